"""Backup and restore of one deployment: the database, the photos and a sealed manifest.

``backup_create`` writes one tar archive: the database (``pg_dump`` custom format, or SQLite's
online backup), every file under ``EVIDENCE_ROOT``, and last ``manifest.json`` (chain head per
scheme, counts, versions, each file's SHA-256, key fingerprints) with ``manifest.hmac``. It is
written under a temporary name and linked into place only when whole. ``backup_restore``
checks keys, seal and checksums and that the target is empty before it touches anything.
Keys never enter an archive: only fingerprints (an HMAC of a fixed text under each key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import platform
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, Any

import django
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django.utils.translation import gettext as _

from civicpoints.awards.models import ClaimEvidence
from civicpoints.community.models import Feedback
from civicpoints.credit.keys import private_key_for
from civicpoints.credit.models import SigningKey
from civicpoints.households import crypto
from civicpoints.households.models import Household
from civicpoints.ledger.models import ChainLink, Entry, Posting
from civicpoints.ledger.verify import verify, verify_head
from civicpoints.schemes.models import Scheme
from civicpoints.stores.models import Delivery, Product

FORMAT = "civicpoints-backup/1"
MANIFEST = "manifest.json"
SEAL = "manifest.hmac"
EVIDENCE_DIR = "evidence"
DB_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
CHUNK = 1024 * 1024
_FINGERPRINT_TEXT = b"civicpoints backup: key fingerprint v1"
# Columns that name a file under EVIDENCE_ROOT (relative path); empty means none.
PHOTO_COLUMNS: tuple[tuple[Any, str], ...] = (
    (ClaimEvidence, "path"),
    (Delivery, "proof_path"),
    (Product, "photo"),
    (Feedback, "photo_path"),
)


class BackupError(Exception):
    """A backup that cannot be made, or an archive that must not be restored (and why)."""


# --- keys ------------------------------------------------------------------------------------


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINT_TEXT, hashlib.sha256).hexdigest()


def _fernet_keys() -> list[bytes]:
    """The Fernet keys in use, as households.crypto builds them (derived in development)."""
    keys = settings.FIELD_ENCRYPTION_KEYS or [
        base64.urlsafe_b64encode(crypto.derived_key("field-key")).decode()
    ]
    return [k.encode() if isinstance(k, str) else k for k in keys]


def key_fingerprints() -> dict[str, Any]:
    """What the data needs: SECRET_KEY (PIN hashes, ID digests, payment codes are keyed by
    keys derived from it) and every Fernet key (ID numbers, bank accounts), newest first."""
    return {
        "SECRET_KEY": _fingerprint(settings.SECRET_KEY.encode()),
        "FIELD_ENCRYPTION_KEYS": [_fingerprint(k) for k in _fernet_keys()],
    }


def key_problems(recorded: dict[str, Any]) -> list[str]:
    """Which of this process's keys differ from those the backup was made with (empty: none)."""
    now = key_fingerprints()
    problems = []
    if recorded.get("SECRET_KEY") != now["SECRET_KEY"]:
        problems.append(
            _(
                "SECRET_KEY 与备份时不同：居民 PIN、身份证号查重摘要都用由它派生的密钥，"
                "换了它居民的 PIN 全部失效"
            )
        )
    old = list(recorded.get("FIELD_ENCRYPTION_KEYS") or [])
    new = now["FIELD_ENCRYPTION_KEYS"]
    if not old or old[0] != new[0]:
        problems.append(
            _(
                "FIELD_ENCRYPTION_KEYS 的第一个密钥与备份时不同：身份证号的查重摘要和 PIN "
                "由它派生，须用备份时的第一个密钥"
            )
        )
    missing = [str(i) for i, fp in enumerate(old[1:], start=2) if fp not in new]
    if missing:
        problems.append(
            _("FIELD_ENCRYPTION_KEYS 缺少备份时的第 %(n)s 个密钥：用它加密的身份证号将无法解密")
            % {"n": _("、").join(missing)}
        )
    return problems


def signing_keys_missing(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's signing keys whose private half this node cannot load. Not a refusal:
    the data restores whole without them, and a lost key is replaced by rotating it; until
    then the scheme's lenders get 503 ``signing_unavailable``."""
    return [
        key
        for key in manifest.get("signing_keys") or []
        if private_key_for(SigningKey(kid=key["kid"], scheme_id=key["scheme"])) is None
    ]


def _seal(manifest_bytes: bytes) -> str:
    return hmac.new(
        crypto.derived_key("backup-manifest"), manifest_bytes, hashlib.sha256
    ).hexdigest()


# --- what a snapshot holds --------------------------------------------------------------------


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _snapshot_facts(cursor: Any) -> dict[str, Any]:
    """Schemes, chain heads, counts and applied migrations, read through ``cursor`` (a DB-API
    cursor on the snapshot: PostgreSQL's exported snapshot, or the SQLite copy)."""
    chain, postings = _table(ChainLink), _table(Posting)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        cursor.execute(sql)
        return list(cursor.fetchall())

    def count(model: Any) -> int:
        return int(rows(f"SELECT COUNT(*) FROM {_table(model)}")[0][0])  # noqa: S608

    posted = dict(rows(f"SELECT scheme_id, COUNT(*) FROM {postings} GROUP BY scheme_id"))  # noqa: S608
    chained = dict(rows(f"SELECT scheme_id, COUNT(*) FROM {chain} GROUP BY scheme_id"))  # noqa: S608
    heads = {
        scheme: (seq, digest)
        for scheme, seq, digest in rows(
            f"SELECT c.scheme_id, c.seq, c.hash FROM {chain} c JOIN "  # noqa: S608
            f"(SELECT scheme_id, MAX(seq) AS seq FROM {chain} GROUP BY scheme_id) h "
            "ON h.scheme_id = c.scheme_id AND h.seq = c.seq"
        )
    }
    schemes = []
    for scheme_id, name in rows(f"SELECT id, name FROM {_table(Scheme)} ORDER BY id"):  # noqa: S608
        seq, digest = heads.get(scheme_id, (0, "0" * 64))
        schemes.append(
            {
                "id": scheme_id,
                "name": name,
                "postings": posted.get(scheme_id, 0),
                "chained": chained.get(scheme_id, 0),
                "head": {"seq": seq, "hash": digest},
            }
        )
    photos: set[str] = set()
    for model, column in PHOTO_COLUMNS:
        photos.update(
            p
            for (p,) in rows(f"SELECT {column} FROM {_table(model)} WHERE {column} <> ''")  # noqa: S608
        )
    # The active statement-signing keys (docs/credit.md, "Keys"). Their private halves are files
    # in STATEMENT_KEY_DIR, kept out of every archive like the other keys: the manifest names
    # them so that a restore can say which this node lacks.
    signing = [
        {"kid": kid, "scheme": scheme_id}
        for scheme_id, kid in rows(
            f"SELECT scheme_id, kid FROM {_table(SigningKey)} "  # noqa: S608
            "WHERE retired_at IS NULL ORDER BY scheme_id, kid"
        )
    ]
    return {
        "schemes": schemes,
        "signing_keys": signing,
        "counts": {
            "households": count(Household),
            "postings": count(Posting),
            "entries": count(Entry),
            "chain_links": count(ChainLink),
            "photos_referenced": len(photos),
        },
        "photos": photos,
        "migrations": [list(r) for r in rows("SELECT app, name FROM django_migrations")],
    }


def _check_heads(facts: dict[str, Any]) -> None:
    """Recompute each scheme's chain up to the head being saved (``verify_head``)."""
    for scheme in facts["schemes"]:
        head = scheme["head"]
        if head["seq"] == 0:
            head["verified"] = True
            continue
        check = verify_head(seq=head["seq"], hash=head["hash"], scheme_id=scheme["id"])
        head["verified"] = check.ok
        if not check.ok:
            head["problem"] = check.message


# --- tools -----------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The newest installed PostgreSQL client tool ``name`` (``CIVICPOINTS_PG_BIN`` first)."""
    candidates: list[Path] = []
    if os.environ.get("CIVICPOINTS_PG_BIN"):
        candidates.append(Path(os.environ["CIVICPOINTS_PG_BIN"]) / name)

    def major(path: Path) -> int:
        version = path.parent.parent.name
        return int(version) if version.isdigit() else 0

    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=major, reverse=True)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise BackupError(
        _("找不到 PostgreSQL 客户端工具 %(name)s：请安装，或用 CIVICPOINTS_PG_BIN 指明其目录")
        % {"name": name}
    )


def _pg_env(connection: BaseDatabaseWrapper) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db.get("NAME")),
        ("PGSSLMODE", (db.get("OPTIONS") or {}).get("sslmode")),
    ):
        if value:
            env[var] = str(value)
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(
            _("%(what)s 失败（%(code)s）：%(err)s")
            % {"what": what, "code": done.returncode, "err": done.stderr.strip()[-2000:]}
        )
    return done.stdout


def _versions(connection: BaseDatabaseWrapper, tool: str) -> dict[str, str]:
    try:
        ours = metadata.version("civicpoints")
    except metadata.PackageNotFoundError:
        ours = "unknown"
    if connection.vendor == "postgresql":
        number = connection.pg_version  # type: ignore[attr-defined]
        server = f"PostgreSQL {number // 10000}.{number % 10000}"
    else:
        server = f"SQLite {sqlite3.sqlite_version}"
    return {
        "civicpoints": ours,
        "django": django.get_version(),
        "python": platform.python_version(),
        "database": server,
        "tool": tool,
    }


# --- backup ----------------------------------------------------------------------------------


@dataclass
class BackupResult:
    path: Path
    size: int
    manifest: dict[str, Any]


def default_directory() -> Path:
    return Path(settings.VAR_DIR) / "backups"


def backup_create(
    *, output: Path | None = None, directory: Path | None = None, using: str = "default"
) -> BackupResult:
    """Write one archive of the database and every photo; return where and what it holds."""
    connection = connections[using]
    if connection.in_atomic_block:
        raise BackupError(_("备份须在事务之外进行"))
    if connection.vendor not in DB_FILES:
        raise BackupError(_("不支持的数据库：%(vendor)s") % {"vendor": connection.vendor})
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    final = (
        Path(output) if output else (directory or default_directory()) / f"civicpoints-{stamp}.tar"
    )
    if final.exists():
        raise BackupError(_("%(path)s 已存在，不会覆盖") % {"path": final})
    final.parent.mkdir(parents=True, exist_ok=True)
    # A hidden work folder beside the archive: same file system (the final step is a link),
    # and whatever a crash leaves there is plainly not a backup.
    work = Path(tempfile.mkdtemp(prefix=".civicpoints-backup-", dir=final.parent))
    try:
        db_name = DB_FILES[connection.vendor]
        dump = work / db_name
        if connection.vendor == "postgresql":
            facts, tool = _dump_postgresql(connection, dump)
        else:
            facts, tool = _dump_sqlite(connection, dump)
        partial = work / f"{final.name}.partial"
        versions = _versions(connection, tool)
        manifest = _write_archive(partial, dump, connection.vendor, facts, versions)
        try:
            os.link(partial, final)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise BackupError(_("%(path)s 已存在，不会覆盖") % {"path": final}) from None
        _fsync_dir(final.parent)
        return BackupResult(path=final, size=final.stat().st_size, manifest=manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dump_postgresql(connection: BaseDatabaseWrapper, dump: Path) -> tuple[dict[str, Any], str]:
    """pg_dump from a snapshot exported by our own transaction, so the manifest's heads and
    counts describe exactly the rows in the dump."""
    pg_dump = pg_tool("pg_dump")
    env = _pg_env(connection)
    tool = _run([pg_dump, "--version"], env, "pg_dump --version").strip()
    connection.ensure_connection()
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        facts = _snapshot_facts(cursor)
        _check_heads(facts)
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={dump}",
            ],
            env,
            "pg_dump",
        )
    return facts, tool


def _dump_sqlite(connection: BaseDatabaseWrapper, dump: Path) -> tuple[dict[str, Any], str]:
    """SQLite's online backup API: a consistent copy while writers go on; facts from the copy."""
    connection.ensure_connection()
    copy = sqlite3.connect(dump)
    try:
        connection.connection.backup(copy)
        facts = _snapshot_facts(copy.cursor())
    finally:
        copy.close()
    # The chain is append-only: the copy's heads are in the live database and must verify there.
    _check_heads(facts)
    return facts, f"sqlite3 online backup {sqlite3.sqlite_version}"


class _Hashing:
    """A file reader that hashes what tarfile copies out of it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha256.update(data)
        return data


def _add_file(tar: tarfile.TarFile, source: Path, name: str) -> dict[str, Any]:
    with source.open("rb") as handle:
        info = tarfile.TarInfo(name)
        stat = os.fstat(handle.fileno())
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        reader = _Hashing(handle)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    return {"name": name, "size": info.size, "sha256": reader.sha256.hexdigest()}


def _evidence_files() -> list[tuple[Path, str]]:
    root = Path(settings.EVIDENCE_ROOT)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        # ``.part``: a photo being written right now (images.image_saved renames it when whole).
        if path.is_file() and not path.is_symlink() and path.suffix != ".part":
            found.append((path, f"{EVIDENCE_DIR}/{path.relative_to(root).as_posix()}"))
    return found


def _write_archive(
    partial: Path, dump: Path, vendor: str, facts: dict[str, Any], versions: dict[str, str]
) -> dict[str, Any]:
    db_name = DB_FILES[vendor]
    photos = facts.pop("photos")
    files = []
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        files.append(_add_file(tar, dump, db_name))
        dump.unlink()
        archived = set()
        for path, name in _evidence_files():
            try:
                files.append(_add_file(tar, path, name))
            except FileNotFoundError:
                continue  # removed since the listing: nothing to keep
            archived.add(name.removeprefix(f"{EVIDENCE_DIR}/"))
        facts["counts"]["evidence_files"] = len(files) - 1
        facts["counts"]["photos_missing"] = len(photos - archived)
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "database": {"vendor": vendor, "file": db_name},
            "versions": versions,
            **facts,
            "keys": key_fingerprints(),
            "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        for name, data in ((MANIFEST, body), (SEAL, _seal(body).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(timezone.now().timestamp()), 0o600
            tar.addfile(info, _Bytes(data))  # type: ignore[arg-type]
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())
    return manifest


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore ---------------------------------------------------------------------------------


@dataclass
class HeadComparison:
    scheme_id: int
    name: str
    saved_seq: int
    saved_hash: str
    seq: int
    hash: str
    verify_ok: bool
    problems: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return (self.seq, self.hash) == (self.saved_seq, self.saved_hash)


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    restored: bool = False
    files: int = 0
    heads: list[HeadComparison] = field(default_factory=list)
    pending_migrations: int = 0
    evidence_set_aside: Path | None = None
    # The backup's active signing keys this node lacks the private half of (a warning).
    signing_missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(h.same and h.verify_ok for h in self.heads)


def backup_restore(
    *, archive: Path, force: bool = False, check_only: bool = False, using: str = "default"
) -> RestoreResult:
    """Restore an archive into this deployment's database and EVIDENCE_ROOT, then verify.

    Refuses, before touching the database or a photo: an unreadable, truncated or altered
    archive; keys that differ from the backup's (naming which); another database vendor;
    migrations this code does not know; a target that is not empty (unless ``force``).
    ``check_only`` runs every check on the archive and stops.
    """
    connection = connections[using]
    try:
        with tarfile.open(archive, "r:") as tar:
            manifest = _read_manifest(tar)
            root = Path(settings.EVIDENCE_ROOT)
            root.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".civicpoints-restore-", dir=root.parent))
            try:
                if not check_only:
                    _check_target(connection, manifest, force=force)
                files = _extract(tar, manifest, staging)
                if check_only:
                    return RestoreResult(
                        manifest=manifest,
                        files=files - 1,
                        signing_missing=signing_keys_missing(manifest),
                    )
                _load_database(connection, staging / manifest["database"]["file"])
                aside = _place_evidence(staging / EVIDENCE_DIR, root)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(_("备份包无法读取、不完整或已损坏：%(why)s") % {"why": exc}) from None
    connection.close()
    result = RestoreResult(
        manifest=manifest,
        restored=True,
        files=files - 1,
        evidence_set_aside=aside,
        signing_missing=signing_keys_missing(manifest),
    )
    executor = MigrationExecutor(connection)
    result.pending_migrations = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    for scheme in manifest["schemes"]:
        report = verify(scheme_id=scheme["id"])
        result.heads.append(
            HeadComparison(
                scheme_id=scheme["id"],
                name=scheme["name"],
                saved_seq=scheme["head"]["seq"],
                saved_hash=scheme["head"]["hash"],
                seq=report.head_seq,
                hash=report.head_hash,
                verify_ok=report.ok,
                problems=[p.message for p in report.problems],
            )
        )
    return result


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    """The manifest, after the keys and then the seal are checked (keys first: a wrong key
    also breaks the seal, and the operator needs to know which key)."""
    try:
        body = _member_bytes(tar, MANIFEST)
        seal = _member_bytes(tar, SEAL).decode("ascii", "replace").strip()
    except KeyError:
        raise BackupError(
            _("不是 civicpoints 备份包，或备份包不完整（缺少清单 %(name)s）") % {"name": MANIFEST}
        ) from None
    try:
        manifest = json.loads(body)
    except ValueError:
        raise BackupError(_("备份清单无法解析：备份包已损坏")) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("不认识的备份格式：%(format)s") % {"format": manifest.get("format")})
    problems = key_problems(manifest.get("keys") or {})
    if problems:
        raise BackupError(
            _("密钥与备份时不同，未做任何改动：\n%(problems)s")
            % {"problems": "\n".join(f"- {p}" for p in problems)}
        )
    if not hmac.compare_digest(seal, _seal(body)):
        raise BackupError(_("备份清单的校验码不符：清单在备份之后被改动过"))
    return manifest


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.getmember(name)
    handle = tar.extractfile(member)
    if handle is None:
        raise KeyError(name)
    data = handle.read()
    if len(data) != member.size:
        raise EOFError(name)
    return data


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    allowed = name in DB_FILES.values() or (len(path.parts) > 1 and path.parts[0] == EVIDENCE_DIR)
    if path.is_absolute() or ".." in path.parts or not allowed:
        raise BackupError(_("备份清单中有不允许的文件名：%(name)s") % {"name": name})
    return path


def _extract(tar: tarfile.TarFile, manifest: dict[str, Any], staging: Path) -> int:
    """Copy every listed file into ``staging``, checking size and SHA-256; return how many."""
    expected = {f["name"]: f for f in manifest.get("files", [])}
    database = manifest.get("database", {}).get("file")
    if database not in expected:
        raise BackupError(_("备份清单里没有数据库文件"))
    seen: set[str] = set()
    for member in tar:
        if member.name in (MANIFEST, SEAL):
            continue
        wanted = expected.get(member.name)
        if wanted is None or not member.isfile() or member.name in seen:
            raise BackupError(_("备份包中有清单以外的内容：%(name)s") % {"name": member.name})
        target = staging / _safe_name(member.name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256()
        size = 0
        source = tar.extractfile(member)
        assert source is not None  # a regular file, checked above
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != wanted["size"] or digest.hexdigest() != wanted["sha256"]:
            raise BackupError(
                _("文件 %(name)s 的校验和与清单不符：备份包已损坏或被改动") % {"name": member.name}
            )
        seen.add(member.name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            _("备份包缺少 %(n)s 个文件（例如 %(name)s）：备份包不完整")
            % {"n": len(missing), "name": missing[0]}
        )
    return len(seen)


def _check_target(
    connection: BaseDatabaseWrapper, manifest: dict[str, Any], *, force: bool
) -> None:
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        raise BackupError(
            _("这是 %(saved)s 数据库的备份，不能恢复到 %(target)s 数据库")
            % {"saved": vendor, "target": connection.vendor}
        )
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    apps = {app for app, _name in known}
    unknown = sorted(
        f"{app}.{name}"
        for app, name in manifest.get("migrations", [])
        if app in apps and (app, name) not in known
    )
    if unknown:
        raise BackupError(
            _("备份来自更新的程序版本（本程序不认识迁移 %(names)s）：请先升级程序再恢复")
            % {"names": _("、").join(unknown[:5])}
        )
    if force:
        return
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(
            _("目标数据库不是空的（%(n)s 张表）：请恢复到新建的空数据库，或加 --force 覆盖")
            % {"n": len(tables)}
        )
    root = Path(settings.EVIDENCE_ROOT)
    if root.is_dir() and any(root.iterdir()):
        raise BackupError(
            _("照片目录 %(root)s 不是空的：请换一个空目录，或加 --force（原目录会被改名保留）")
            % {"root": root}
        )


def _load_database(connection: BaseDatabaseWrapper, dump: Path) -> None:
    """Replace the target database with the dump, in one transaction: all or nothing."""
    connection.close()
    if connection.vendor == "postgresql":
        _load_postgresql(connection, dump)
    else:
        _load_sqlite(connection, dump)


def _load_postgresql(connection: BaseDatabaseWrapper, dump: Path) -> None:
    env = _pg_env(connection)
    restore = subprocess.Popen(
        [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(dump)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # psql -1 wraps the clearing and the whole dump in one transaction: a failure anywhere
    # leaves the target as it was.
    psql = subprocess.run(
        [
            pg_tool("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--command=DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;",
            "--file=-",
        ],
        env=env,
        stdin=restore.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.stdout is not None and restore.stderr is not None
    restore.stdout.close()
    restore_err = restore.stderr.read().decode(errors="replace")
    restore.wait()
    if restore.returncode != 0 or psql.returncode != 0:
        raise BackupError(
            _("恢复数据库失败，目标数据库未改动：%(err)s")
            % {"err": (restore_err + psql.stderr).strip()[-2000:]}
        )


def _load_sqlite(connection: BaseDatabaseWrapper, dump: Path) -> None:
    source = sqlite3.connect(dump)
    target = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
    try:
        check = source.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(_("备份中的 SQLite 文件损坏：%(why)s") % {"why": check})
        source.backup(target)  # one step under the target's write lock: all or nothing
    except sqlite3.Error as exc:
        raise BackupError(_("恢复数据库失败：%(why)s") % {"why": exc}) from None
    finally:
        source.close()
        target.close()


def _place_evidence(staged: Path, root: Path) -> Path | None:
    """Move the restored photos into place by renaming; a non-empty old folder is kept."""
    staged.mkdir(exist_ok=True, mode=0o700)
    aside = None
    if root.is_dir():
        if any(root.iterdir()):
            aside = root.with_name(f"{root.name}.before-restore-{secrets.token_hex(4)}")
            root.rename(aside)
        else:
            root.rmdir()
    staged.rename(root)
    return aside
