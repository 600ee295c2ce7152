"""Project rules for the faces, as small tests (each with its reason)."""

from __future__ import annotations

import re
from pathlib import Path

import civicpoints

ROOT = Path(civicpoints.__file__).parent
FACES = ("api", "backoffice", "counter", "portal", "faces")
# The URL map and the settings wire the faces in; they are not domain code.
WIRING = {"urls.py", "settings.py", "wsgi.py", "cli.py"}
IMPORT = re.compile(rf"^\s*(?:from|import)\s+civicpoints\.({'|'.join(FACES)})\b", re.M)


def test_no_domain_module_imports_a_face():
    """Domain code never depends on how it is shown (STYLE.md: "faces are thin")."""
    offenders = [
        f"{path.relative_to(ROOT)}: civicpoints.{match.group(1)}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] not in FACES and path.name not in WIRING
        for match in IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_page_faces_do_not_catch_not_found_themselves():
    """A page's 404 is the page handler's (faces/errors.py), not a helper per module."""
    helpers = [
        str(path.relative_to(ROOT))
        for face in ("backoffice", "counter", "portal")
        for path in sorted((ROOT / face).rglob("*.py"))
        if re.search(r"^def _?not_found\(", path.read_text(encoding="utf-8"), re.M)
    ]
    assert helpers == []


def test_what_the_faces_share_imports_no_face():
    """``civicpoints.faces`` is what counter and portal may both import: it cannot lean on one."""
    one_face = re.compile(
        r"^\s*(?:from|import)\s+civicpoints\.(api|backoffice|counter|portal)\b", re.M
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "faces").rglob("*.py"))
        if one_face.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
