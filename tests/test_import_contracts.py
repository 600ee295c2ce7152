"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and each one can fail.

Both tests run the real ``lint-imports`` in a subprocess. The second copies the package's
Python files into a temporary directory, plants one module that breaks each contract, and
expects every contract reported broken, naming its own planted module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# One module per contract id, each breaking that contract and, where it can be helped, only it.
PLANTED = {
    "domain-never-imports-a-face": (
        "audit/planted_face.py",
        "from civicpoints.portal import views\n",
    ),
    "faces-are-independent": (
        "counter/planted_api.py",
        "from civicpoints.api import schemas\n",
    ),
    "spending-never-imports-earning": (
        "merchants/planted_earning.py",
        # inside a function still counts: a lazy import is an import
        "def rules():\n    from civicpoints.rules.models import Rule\n\n    return Rule\n",
    ),
    "households-below-earning-and-spending": (
        "households/planted_store.py",
        "from civicpoints.stores import models\n",
    ),
    "ledger-never-imports-households": (
        "ledger/planted_household.py",
        "import civicpoints.households.models\n",
    ),
    "ledger-below-the-domain": (
        "ledger/planted_rules.py",
        "from civicpoints.rules import catalogue\n",
    ),
    "earning-layers": (
        "rules/planted_claims.py",
        "from civicpoints.awards.models import Claim\n",
    ),
}


FACES = {"api", "backoffice", "counter", "portal"}
# What the page faces share (form keys, the refusal handler): a face too for the domain.
SHARED_BY_FACES = {"faces"}
# The project's wiring, which must see the faces: the URL map, settings, WSGI, the CLI.
WIRING = {"urls", "settings", "wsgi", "cli"}


def contracts() -> list[dict[str, Any]]:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]


def test_every_app_is_held_to_the_face_contract():
    """A new app (honours, reports) is domain code unless it is named a face."""
    package = ROOT / "src" / "civicpoints"
    top = {
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    (faces,) = [c for c in contracts() if c["id"] == "domain-never-imports-a-face"]
    named = {str(m).removeprefix("civicpoints.") for m in faces["source_modules"]}
    forbidden = {str(m).removeprefix("civicpoints.") for m in faces["forbidden_modules"]}
    assert forbidden == FACES | SHARED_BY_FACES
    assert named == top - FACES - SHARED_BY_FACES - WIRING


def lint_imports(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(PYPROJECT)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sections(output: str, names: list[str]) -> dict[str, str]:
    """Each broken contract's report: from its heading to the next contract's heading."""
    report = output.split("Broken contracts", 1)[1]
    starts = sorted((report.index(f"\n{n}\n"), n) for n in names if f"\n{n}\n" in report)
    bounds = [*(s for s, _n in starts[1:]), len(report)]
    return {n: report[s:e] for (s, n), e in zip(starts, bounds, strict=True)}


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    found = lint_imports(ROOT / "src", tmp_path)
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in found.stdout


def test_every_contract_fails_on_a_planted_violation(tmp_path: Path) -> None:
    ids = [str(c["id"]) for c in contracts()]
    assert sorted(ids) == sorted(PLANTED)  # a new contract needs a planted violation here
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "civicpoints",
        src / "civicpoints",
        ignore=lambda _dir, names: [
            n for n in names if n in ("templates", "static", "locale", "__pycache__")
        ],
    )
    for path, body in PLANTED.values():
        (src / "civicpoints" / path).write_text(body)

    found = lint_imports(src, tmp_path)

    assert found.returncode == 1, found.stdout + found.stderr
    names = {str(c["id"]): str(c["name"]) for c in contracts()}
    assert f"Contracts: 0 kept, {len(ids)} broken." in found.stdout
    reports = sections(found.stdout, list(names.values()))
    for contract_id, (path, _body) in PLANTED.items():
        planted = "civicpoints." + path.removesuffix(".py").replace("/", ".")
        assert f"{names[contract_id]} BROKEN" in found.stdout
        assert planted in reports[names[contract_id]], (contract_id, reports[names[contract_id]])
