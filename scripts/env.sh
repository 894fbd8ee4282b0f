# Sourced by the other scripts: create or reuse .venv with siform and its test tools installed.
# Reinstalls only when pyproject.toml changes, so repeated runs start in a second.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${SIFORM_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "siform needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating the virtual environment in $VENV ..." >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.siform-installed"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing siform and its dependencies into $VENV ..." >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[test,server]"
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
