# Shared by scripts/run and scripts/test: make .venv with Python 3.11+ and install a lock file.
# Usage: . scripts/_venv.sh; ensure_venv requirements/base.lock
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "civicpoints needs Python 3.11 to 3.13 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local lock="$ROOT/$1" stamp
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv in .venv"
    "$(find_python)" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$(basename "$lock")-$(sha256sum "$lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> installing locked dependencies ($1)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT"
    rm -f "$VENV"/.installed-"$(basename "$lock")"-*
    touch "$stamp"
  fi
}
