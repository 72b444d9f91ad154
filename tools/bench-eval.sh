#!/usr/bin/env bash
# Benchmark: the teacher's perplexity evaluation through Retort vs llama.cpp's llama-perplexity,
# same F32 GGUF, same text, same context and threads, in one run.
#   1. builds the llama.cpp peer tools (tools/build-llama-cpp.sh) and retort (release);
#   2. writes the F32 version of the teacher with llama-quantize (Q4_1/Q8_0 → F32: exact dequantization);
#   3. runs llama-perplexity and `retort eval --protocol llama.cpp`, REPS times each, alternating;
#   4. prints both perplexities, their relative difference, median tokens/s and the ratio.
# Usage: tools/bench-eval.sh [--threads N] [--context N] [--chunks N] [--reps N] [--text FILE]
#        [--swiftc-flags "…"] (e.g. "-Xswiftc -target-cpu -Xswiftc haswell")
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
threads=2 context=512 chunks=40 reps=3 text="" flags=""
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --context) context="$2"; shift 2 ;;
    --chunks) chunks="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --text) text="$2"; shift 2 ;;
    --swiftc-flags) flags="$2"; shift 2 ;;
    *) die "unknown option '$1'" ;;
  esac
done
bash tools/setup.sh --llama-cpp
text="${text:-$RETORT_CACHE/corpus/test.txt}"
bin="$RETORT_CACHE/llama.cpp/bin"
teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
f32="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.F32.gguf"
if [[ ! -f "$f32" ]]; then
  log "writing $f32 with llama-quantize"
  "$bin/llama-quantize" --allow-requantize "$teacher" "$f32.tmp" F32 >"$RETORT_CACHE/llama-quantize.log" 2>&1 \
    || die "llama-quantize failed; see $RETORT_CACHE/llama-quantize.log"
  mv "$f32.tmp" "$f32"
fi
# Extra compiler flags build into their own folder, so the default build is left as it is.
[[ -n "$flags" ]] && flags="--scratch-path .build-flags $flags"
# shellcheck disable=SC2086
swift build -c release --product retort $flags 2>&1 | grep -E 'error|warning' || true
# shellcheck disable=SC2086
retort="$(swift build -c release --show-bin-path $flags)/retort"
max_tokens=$((chunks * context))
out="$(mktemp -d)"
log "text: $text (first $chunks chunks of $context tokens), threads $threads, $reps repetitions"
for r in $(seq 1 "$reps"); do
  "$bin/llama-perplexity" -m "$f32" -f "$text" -c "$context" -t "$threads" --chunks "$chunks" \
    >"$out/llama.$r.log" 2>&1 || die "llama-perplexity failed; see $out/llama.$r.log"
  "$retort" eval --model "$f32" --text "$text" --context "$context" --protocol llama.cpp \
    --max-tokens "$max_tokens" --threads "$threads" --json >"$out/retort.$r.json" 2>"$out/retort.$r.log" \
    || die "retort eval failed; see $out/retort.$r.log"
done
python3 - "$out" "$reps" "$threads" "$context" <<'PY'
import json, re, statistics, sys
out, reps, threads, context = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
l_tps, r_tps, l_ppl, r_ppl = [], [], None, None
for r in range(1, reps + 1):
    log = open(f"{out}/llama.{r}.log").read()
    m = re.search(r"Final estimate: PPL = ([0-9.]+)", log)
    l_ppl = float(m.group(1))
    # Log lines start with a M.SS.mmm.uuu timestamp; time the span from the start of the
    # computation to the final estimate (model evaluation plus its log-softmax work).
    def stamp(pattern):
        m = re.search(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) .*" + pattern, log, re.M)
        mi, se, ms, us = map(int, m.groups())
        return mi * 60 + se + ms / 1e3 + us / 1e6
    m = re.search(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+)", log)
    tokens = int(m.group(1)) * int(m.group(2))
    l_tps.append(tokens / (stamp("Final estimate") - stamp("calculating perplexity over")))
    j = json.load(open(f"{out}/retort.{r}.json"))
    r_ppl = j["perplexity"]
    r_tps.append(j["result"]["processedTokens"] / j["result"]["seconds"])
lm, rm = statistics.median(l_tps), statistics.median(r_tps)
print(f"perplexity (llama.cpp protocol, context {context}): llama.cpp {l_ppl:.4f}   retort {r_ppl:.4f}   "
      f"difference {100 * (r_ppl - l_ppl) / l_ppl:+.3f}%")
print(f"eval throughput, {threads} threads, median of {reps}: llama.cpp {lm:.1f} tokens/s "
      f"(runs {', '.join(f'{x:.1f}' for x in l_tps)})   retort {rm:.1f} tokens/s (runs {', '.join(f'{x:.1f}' for x in r_tps)})")
print(f"ratio retort / llama.cpp: {rm / lm:.2f}x")
PY
