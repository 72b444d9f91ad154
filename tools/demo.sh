#!/usr/bin/env bash
# The main job on the built-in default teacher and corpus:
#   setup (fetch + verify teacher and corpus) → release build → the teacher's perplexity on the
#   held-out test split (host FP32) → convert to a compact INT8 .rtm (absmax, dynamic W8A8) →
#   generate with RetortRuntime from the .rtm → the INT8 model's perplexity through the runtime,
#   on the same tokens → sizes side by side.
# Usage: tools/demo.sh [--max-tokens N | --full] [--out DIR]
#   --max-tokens N  evaluate the first N test-split tokens (default 16384; --full: all 108,742)
#   --out DIR       where the .rtm and logs go (default: $RETORT_CACHE/demo)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
eval_tokens=(--max-tokens 16384)
out=""
while (($#)); do
  case "$1" in
    --max-tokens) eval_tokens=(--max-tokens "$2"); shift 2 ;;
    --full) eval_tokens=(); shift ;;
    --out) out="$2"; shift 2 ;;
    *) die "unknown option '$1' (expected --max-tokens N, --full, --out DIR)" ;;
  esac
done
bash tools/setup.sh
out="${out:-$RETORT_CACHE/demo}"
mkdir -p "$out"
log "building retort (release)"
swift build -c release --product retort 2>&1 | grep -E 'error|warning|Build complete' || true
retort="$(swift build -c release --show-bin-path)/retort"
teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
test_split="$RETORT_CACHE/corpus/test.txt"

log "teacher: $teacher"
"$retort" inspect "$teacher" --tensors-only | tail -2
log "teacher perplexity on the test split (host FP32; sliding windows, context 512, stride 256)"
"$retort" eval --model "$teacher" --text "$test_split" "${eval_tokens[@]}" | tee "$out/eval-teacher.txt"
log "teacher generation (host FP32, chat format, greedy)"
"$retort" generate --model "$teacher" --chat --temperature 0 --max-tokens 60 \
  --prompt "Write two lines about the sea in the style of Shakespeare."

log "converting to INT8 .rtm (round-to-nearest absmax per output channel; activations per token)"
"$retort" convert --from "$teacher" --to "$out/teacher-int8.rtm" --int8
log "RetortRuntime generation from $out/teacher-int8.rtm (sampled, seed 1)"
"$retort" run --model "$out/teacher-int8.rtm" --temperature 0.7 --seed 1 --max-tokens 60 \
  --prompt "To be, or not to be, that is the question:"
log "INT8 perplexity through RetortRuntime, same text and protocol"
"$retort" eval --model "$out/teacher-int8.rtm" --text "$test_split" "${eval_tokens[@]}" | tee "$out/eval-int8.txt"

python3 - "$teacher" "$out" <<'PY'
import os, re, sys
teacher, out = sys.argv[1], sys.argv[2]
def ppl(name):
    m = re.search(r"perplexity: ([0-9.]+)", open(f"{out}/{name}").read())
    return float(m.group(1))
t, q = ppl("eval-teacher.txt"), ppl("eval-int8.txt")
print(f"\nsummary ({out}):")
print(f"  teacher GGUF (Q4_1 on disk, FP32 on the host) {os.path.getsize(teacher) / 2**20:7.1f} MiB   perplexity {t:.3f}")
print(f"  teacher-int8.rtm (RetortRuntime, W8A8)        {os.path.getsize(out + '/teacher-int8.rtm') / 2**20:7.1f} MiB   "
      f"perplexity {q:.3f} ({100 * (q / t - 1):+.2f}%)")
PY
