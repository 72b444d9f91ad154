#!/usr/bin/env bash
# The main job on the built-in default: setup (fetch + verify teacher and corpus), release build,
# then the teacher's perplexity on the held-out test split and a generation from a prompt.
# Usage: tools/demo.sh [--max-tokens N]   (N limits the evaluated test-split tokens; default: all)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
max_tokens=()
while (($#)); do
  case "$1" in
    --max-tokens) max_tokens=(--max-tokens "$2"); shift 2 ;;
    *) die "unknown option '$1' (expected --max-tokens N)" ;;
  esac
done
bash tools/setup.sh
log "building retort (release)"
swift build -c release --product retort 2>&1 | grep -E 'error|warning|Compiling retort|Build complete' || true
retort="$(swift build -c release --show-bin-path)/retort"
teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
log "teacher: $teacher"
"$retort" inspect "$teacher" --tensors-only | tail -2
log "perplexity of the teacher on the test split (sliding windows, context 512, stride 256)"
"$retort" eval --model "$teacher" --text "$RETORT_CACHE/corpus/test.txt" --context 512 "${max_tokens[@]}"
log "generation (chat format, greedy)"
"$retort" generate --model "$teacher" --chat --temperature 0 --max-tokens 80 \
  --prompt "Write two lines about the sea in the style of Shakespeare."
log "generation (plain continuation, sampled, seed 1)"
"$retort" generate --model "$teacher" --temperature 0.7 --seed 1 --max-tokens 60 \
  --prompt "To be, or not to be, that is the question:"
