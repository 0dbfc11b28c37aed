#!/usr/bin/env bash
# Runs a deploy/checks script with the Python environment scripts/setup.sh
# makes for them (kubernetes-validate, PyYAML, jsonschema):
#   deploy/checks/run.sh check_k8s.py validate
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${GQA_CACHE_DIR:-${HOME}/.cache/gqaserve}/deploy-venv"
if [[ ! -x "${venv}/bin/python" ]]; then
  echo "deploy checks: no Python environment at ${venv}; run scripts/setup.sh" >&2
  exit 1
fi
command -v kubectl >/dev/null || { echo "deploy checks: kubectl is not on PATH" >&2; exit 1; }
script="$1"
shift
exec "${venv}/bin/python" "${here}/${script}" "$@"
