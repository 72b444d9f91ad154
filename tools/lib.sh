# Shared helpers for the tools/ scripts. Source it; do not run it.
export RETORT_CACHE="${RETORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retort}"
log() { printf '[retort] %s\n' "$*" >&2; }
die() { printf '[retort] error: %s\n' "$*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found; run tools/setup.sh first"; }
