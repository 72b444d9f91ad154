#!/usr/bin/env bash
# The main job on the built-in default teacher and corpus, end to end:
#   setup (fetch + verify teacher and corpus) → release build → `retort demo`:
#   distill a pruned student on the train split within a time budget (teacher signal cached in
#   $RETORT_CACHE/teacher-cache for later runs) → calibrate and quantize it to INT8 → generate
#   from the INT8 .rtm with RetortRuntime → bench teacher, FP32 student and INT8 student side by
#   side (table, results.json, frontier.svg).
# Usage: tools/demo.sh [--minutes M] [--test-tokens N] [--peers] [--out DIR]
#   --minutes M      distillation budget in minutes of training (default 12)
#   --test-tokens N  test-split tokens for perplexity / KL / agreement (default 8192)
#   --peers          also build llama.cpp (tools/build-llama-cpp.sh, ~15 min once) and add its rows
#   --out DIR        where every artifact goes (default: $RETORT_CACHE/demo)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
minutes=12
test_tokens=8192
peers=0
out=""
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --test-tokens) test_tokens="$2"; shift 2 ;;
    --peers) peers=1; shift ;;
    --out) out="$2"; shift 2 ;;
    *) die "unknown option '$1' (expected --minutes M, --test-tokens N, --peers, --out DIR)" ;;
  esac
done
if ((peers)); then bash tools/setup.sh --llama-cpp; else bash tools/setup.sh; fi
out="${out:-$RETORT_CACHE/demo}"
mkdir -p "$out"
log "building retort (release)"
swift build -c release --product retort 2>&1 | grep -E 'error|warning|Build complete' || true
retort="$(swift build -c release --show-bin-path)/retort"
peer_flag=()
if [[ ! -x "$RETORT_CACHE/llama.cpp/bin/llama-bench" ]]; then peer_flag=(--no-peers); fi
"$retort" demo --teacher "$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf" --corpus "$RETORT_CACHE/corpus" \
  --out "$out" --minutes "$minutes" --test-tokens "$test_tokens" "${peer_flag[@]}"
