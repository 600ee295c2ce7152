"""Backup -> restore into a fresh database -> verify: the same chain heads, the same photos.

A small county (two schemes, awards, counter redemptions, a delivered freezer with its photo,
a claim with a photo, an ID number) is backed up by ``civicpoints backup``; ``civicpoints
restore`` runs as its own process against a NEW database (a new PostgreSQL database or a new
SQLite file) and a new photo folder, then ``civicpoints verify`` there gives the heads the
manifest holds. Wrong keys, a truncated or altered archive, and a non-empty target are
refused before anything changes: the refusals run with ``force`` against the live test
database, and the test checks that it is exactly as it was.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from PIL import Image

from civicpoints.awards.services.claims import claim_submit
from civicpoints.awards.services.evidence import evidence_attach
from civicpoints.credit.keys import signing_key_create, signing_key_rotate
from civicpoints.households import crypto
from civicpoints.households.models import Member
from civicpoints.ledger.chain import chain_follow
from civicpoints.ledger.verify import verify
from civicpoints.ops import backup as backup_module
from civicpoints.ops.backup import BackupError, backup_create, backup_restore
from civicpoints.rules.catalogue import load_catalogue
from civicpoints.schemes.models import Role
from civicpoints.schemes.scope import actor_for_user
from civicpoints.stores.models import Delivery
from civicpoints.stores.services import Item, delivery_complete, delivery_dispatch, redeem
from tests.factories import World, fund, make_household, make_staff
from tests.ledger.helpers import ledger_snapshot
from tests.stores.conftest import PIN, build_shop

pytestmark = pytest.mark.django_db(transaction=True)

ID_NUMBER = "220822195508254614"


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "JPEG")
    return out.getvalue()


@dataclass
class County:
    world: World
    evidence: Path
    heads: dict[int, tuple[int, str]]


@pytest.fixture
def county(world: World, settings: Any, tmp_path: Path) -> County:
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    shop = build_shop(world)
    make_household(world.scheme, world.village_a2, "赵桂兰", id_number=ID_NUMBER)
    # Counter redemptions; a freezer delivered to the door with a photo as proof
    redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.cooker.pk, 1)],
        pin=PIN,
    )
    big = redeem(
        actor=shop.clerk_actor,
        store=shop.store,
        household=shop.household,
        items=[Item(shop.freezer.pk, 1)],
        pin=PIN,
        delivery_address="晓光村三组 12 号",
    )
    delivery = delivery_dispatch(
        actor=shop.clerk_actor, delivery=Delivery.objects.get(redemption=big), courier="李师傅"
    )
    delivery_complete(actor=shop.clerk_actor, delivery=delivery, proof=_jpeg((200, 30, 30)))
    # A claim with a photo of the deed
    rule = next(r for r in load_catalogue(scheme=world.scheme) if r.code == "B01")
    grid = actor_for_user(make_staff("wangge", Role.GRID_WORKER, world.village_a1, world.scheme))
    claim = claim_submit(actor=grid, household=shop.household, rule_id=rule.pk, quantity=1)
    evidence_attach(claim=claim, data=_jpeg((30, 200, 30)), actor=grid)
    # The other county has a ledger too
    fund(make_household(world.other_scheme, world.other_village, "孙立"), 50_000)
    heads = {}
    for scheme in (world.scheme, world.other_scheme):
        chain_follow(scheme_id=scheme.pk)
        report = verify(scheme_id=scheme.pk)
        assert report.ok and report.head_seq > 0
        heads[scheme.pk] = (report.head_seq, report.head_hash)
    # One posting not chained yet: the follower's lag travels with the backup as it is
    fund(shop.household, 1_000)
    return County(world=world, evidence=Path(settings.EVIDENCE_ROOT), heads=heads)


def _files(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- a fresh target and the command line -------------------------------------------------------


@dataclass
class Target:
    env: dict[str, str]
    evidence: Path
    tables: Any  # () -> list of table names in the target database
    query: Any  # (sql) -> rows


@pytest.fixture
def fresh_target(tmp_path: Path) -> Iterator[Target]:
    """A new, empty database of the same kind as the test database, and a new photo folder."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    evidence = tmp_path / "restored-evidence"
    env.update({"CIVICPOINTS_TESTING": "1", "CIVICPOINTS_EVIDENCE_ROOT": str(evidence)})
    if connection.vendor == "postgresql":
        db = settings.DATABASES["default"]
        server = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}"
        name = f"test_civicpoints_restore_{os.getpid()}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"{server}/{name}".replace("postgresql://", "postgres://", 1)
        env["CIVICPOINTS_DB_POOL"] = "0"

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(f"{server}/{name}", autocommit=True) as conn:
                return conn.execute(sql).fetchall()

        def tables() -> list[str]:
            return [
                r[0] for r in query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]

        yield Target(env=env, evidence=evidence, tables=tables, query=query)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        import sqlite3

        path = tmp_path / "fresh.sqlite3"
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(path)

        def query_sqlite(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as conn:
                return conn.execute(sql).fetchall()

        def tables_sqlite() -> list[str]:
            if not path.exists():
                return []
            return [r[0] for r in query_sqlite("SELECT name FROM sqlite_master WHERE type='table'")]

        yield Target(env=env, evidence=evidence, tables=tables_sqlite, query=query_sqlite)


def _cli(target: Target, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicpoints.cli", *args],
        env={**target.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_backup_restores_into_a_fresh_database_with_the_same_heads_and_photos(
    county: County, fresh_target: Target, tmp_path: Path
) -> None:
    photos = _files(county.evidence)
    assert len(photos) == 2
    # Given a backup of the county
    out = io.StringIO()
    archive = tmp_path / "backups" / "county.tar"
    call_command("backup", output=archive, stdout=out)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    saved = {s["id"]: (s["head"]["seq"], s["head"]["hash"]) for s in manifest["schemes"]}
    assert saved == county.heads
    assert all(s["head"]["verified"] for s in manifest["schemes"])
    assert manifest["counts"]["evidence_files"] == 2
    assert manifest["counts"]["photos_missing"] == 0
    assert {f["name"] for f in manifest["files"]} == {
        backup_module.DB_FILES[connection.vendor],
        *(f"evidence/{name}" for name in photos),
    }
    assert "SECRET_KEY" in manifest["keys"]
    assert settings.SECRET_KEY not in archive.read_bytes().decode("latin-1")
    assert sorted(p.name for p in archive.parent.iterdir()) == ["county.tar"]
    # When a restore is tried with another SECRET_KEY, it says so and the target stays empty
    wrong = _cli(fresh_target, "restore", str(archive), SECRET_KEY="another-" * 8)
    assert wrong.returncode == 1
    assert "SECRET_KEY 与备份时不同" in wrong.stderr
    assert fresh_target.tables() == [] and not fresh_target.evidence.exists()
    # When it is restored with the right keys into the fresh database
    done = _cli(fresh_target, "restore", str(archive))
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.count("一致，账本校验正常") == 2
    # Then verify there gives the same chain heads, and the unchained posting still waits
    checked = _cli(fresh_target, "verify", "--json", "--skip-checks")
    assert checked.returncode == 0, checked.stderr
    reports = {r["scheme"]: r for r in json.loads(checked.stdout)}
    assert {k: (r["head"]["seq"], r["head"]["hash"]) for k, r in reports.items()} == county.heads
    assert reports[county.world.scheme.pk]["lag"] == 1
    assert all(r["ok"] for r in reports.values())
    # And the photos are byte for byte the same, and ID numbers still decrypt
    assert _files(fresh_target.evidence) == photos
    (encrypted,) = fresh_target.query(
        f"SELECT id_number_encrypted FROM {Member._meta.db_table} WHERE id_number_encrypted <> ''"
    )
    assert crypto.decrypt(encrypted[0]) == ID_NUMBER
    if connection.vendor == "postgresql":
        # The database guards came along: postings stay append-only
        with pytest.raises(psycopg.Error):
            fresh_target.query("UPDATE ledger_posting SET memo = 'x'")


# --- refusals leave everything as it was ------------------------------------------------------


def _state(county: County) -> dict[str, Any]:
    return {scheme: ledger_snapshot(scheme) for scheme in county.heads} | {
        "photos": _files(county.evidence),
        "tables": sorted(connection.introspection.table_names()),
    }


def _refused(county: County, archive: Path, expected: str, *, force: bool = True) -> None:
    before = _state(county)
    with pytest.raises(BackupError) as refusal:
        backup_restore(archive=archive, force=force)
    assert expected in str(refusal.value)
    assert _state(county) == before
    leftovers = [p.name for p in county.evidence.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def _rewrite(archive: Path, out: Path, change: Any) -> Path:
    """Copy the archive member by member; ``change(name, data)`` returns new bytes or None to
    drop the member; a (name, data) pair under the key ``"+"`` is appended."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source:
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            new = change(member.name, data)
            if new is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(new)
            target.addfile(info, io.BytesIO(new))
    return out


def test_wrong_keys_and_damaged_archives_are_refused_before_anything_changes(
    county: County, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backup that fails half-way (the disk fills up after the database) leaves no archive
    real = backup_module._add_file
    calls = []

    def disk_full(tar: tarfile.TarFile, source: Path, name: str) -> dict[str, Any]:
        calls.append(name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(tar, source, name)

    monkeypatch.setattr(backup_module, "_add_file", disk_full)
    archive = tmp_path / "backups" / "county.tar"
    with pytest.raises(OSError):
        backup_create(output=archive)
    assert list(archive.parent.iterdir()) == []
    monkeypatch.setattr(backup_module, "_add_file", real)
    backup_create(output=archive)
    # An existing archive is never overwritten
    first = archive.read_bytes()
    with pytest.raises(BackupError, match="已存在"):
        backup_create(output=archive)
    assert archive.read_bytes() == first
    # Another SECRET_KEY; another first Fernet key
    original = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-" * 4
    _refused(county, archive, "SECRET_KEY 与备份时不同")
    settings.SECRET_KEY = original
    fernet_keys = settings.FIELD_ENCRYPTION_KEYS
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    _refused(county, archive, "FIELD_ENCRYPTION_KEYS 的第一个密钥与备份时不同")
    with pytest.raises(BackupError) as only_fernet:
        backup_restore(archive=archive, force=True)
    assert "SECRET_KEY" not in str(only_fernet.value)
    settings.FIELD_ENCRYPTION_KEYS = fernet_keys
    # The right keys: --check passes without touching anything
    assert backup_restore(archive=archive, check_only=True).files == 2
    # A truncated archive
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    _refused(county, truncated, "备份包")
    # A photo changed inside the archive
    with tarfile.open(archive) as tar:
        photo = next(n for n in tar.getnames() if n.startswith("evidence/"))
    altered = _rewrite(
        archive, tmp_path / "photo.tar", lambda n, d: d[:-3] + b"\0\0\0" if n == photo else d
    )
    _refused(county, altered, f"文件 {photo} 的校验和与清单不符")

    # The manifest edited (a head moved back), its seal left as it was
    def edit(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schemes"][0]["head"]["seq"] -= 1
        return json.dumps(manifest).encode()

    _refused(county, _rewrite(archive, tmp_path / "manifest.tar", edit), "清单在备份之后被改动过")
    # A photo missing from the archive
    dropped = _rewrite(archive, tmp_path / "dropped.tar", lambda n, d: None if n == photo else d)
    _refused(county, dropped, "备份包缺少 1 个文件")
    # Not a backup at all
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file" * 100)
    _refused(county, junk, "备份包无法读取")
    # And a good archive into this (non-empty) database without --force
    _refused(county, archive, "目标数据库不是空的", force=False)


def test_force_replaces_a_live_database_and_keeps_the_old_photo_folder(
    county: County, tmp_path: Path
) -> None:
    archive = backup_create(output=tmp_path / "county.tar").path
    photos = _files(county.evidence)
    # Given changes made after the backup: a posting and a stray photo
    chain_follow(scheme_id=county.world.scheme.pk)
    fund(make_household(county.world.scheme, county.world.village_b1), 700)
    (county.evidence / "stray.jpg").write_bytes(_jpeg((0, 0, 200)))
    # When the backup is restored over them with force
    result = backup_restore(archive=archive, force=True)
    # Then the database is the backup's again: same heads, verify ok, the change gone
    assert result.ok and result.files == 2
    assert {h.scheme_id: (h.seq, h.hash) for h in result.heads} == county.heads
    assert verify(scheme_id=county.world.scheme.pk).lag == 1
    # And the photos are the backup's; the replaced folder is kept beside them
    assert _files(county.evidence) == photos
    assert result.evidence_set_aside is not None
    assert "stray.jpg" in _files(result.evidence_set_aside)


def test_the_manifest_names_the_signing_keys_and_a_restore_says_which_this_node_lacks(
    world: World, settings: Any, tmp_path: Path
) -> None:
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.STATEMENT_KEYS_DERIVED = False
    settings.STATEMENT_KEY_DIR = tmp_path / "keys"
    signing_key_create(scheme=world.scheme)
    ours = signing_key_rotate(scheme=world.scheme)  # the first one retired: not needed to sign
    theirs = signing_key_create(scheme=world.other_scheme)
    archive = tmp_path / "county.tar"
    backup_create(output=archive)

    named = backup_restore(archive=archive, check_only=True)
    assert sorted(named.manifest["signing_keys"], key=lambda k: k["scheme"]) == [
        {"kid": ours.kid, "scheme": world.scheme.pk},
        {"kid": theirs.kid, "scheme": world.other_scheme.pk},
    ]
    assert named.signing_missing == []
    with tarfile.open(archive) as tar:  # the private halves never travel in the archive
        assert not [n for n in tar.getnames() if n.endswith(".pem")]

    # A new node without the key directory: a warning naming each key and what to do, and
    # the archive still passes its check (the data restores whole without them)
    settings.STATEMENT_KEY_DIR = tmp_path / "new-node-keys"
    lacking = backup_restore(archive=archive, check_only=True)
    assert {k["kid"] for k in lacking.signing_missing} == {ours.kid, theirs.kid}
    out = io.StringIO()
    call_command("restore", str(archive), "--check", stdout=out)
    text = out.getvalue()
    assert f"{ours.kid}.pem" in text and f"{theirs.kid}.pem" in text
    assert f"civicpoints statement rotate --scheme {world.scheme.pk}" in text
    assert "备份包完好" in text

    # One key file copied over: only the other is still missing
    settings.STATEMENT_KEY_DIR.mkdir()
    shutil.copy(tmp_path / "keys" / f"{ours.kid}.pem", settings.STATEMENT_KEY_DIR)
    left = backup_restore(archive=archive, check_only=True).signing_missing
    assert left == [{"kid": theirs.kid, "scheme": world.other_scheme.pk}]
