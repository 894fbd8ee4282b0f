#!/usr/bin/env bash
# Lint and run the whole test suite (builds the pose model on first run, offline-safe).
source "$(dirname "$0")/env.sh"
export SIFORM_OFFLINE=1
ruff check .
pytest "$@"
