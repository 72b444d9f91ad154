#!/usr/bin/env bash
# Benchmark: RetortRuntime vs llama.cpp's llama-bench on the same model, same machine, same
# threads, in one run. The teacher is converted to .rtm (f32, and absmax int8) and exported to
# GGUF (F32, and Q8_0) by retort itself, so both sides run the same weights:
#   runtime f32  vs llama.cpp F32;   runtime int8 (W8A8) vs llama.cpp Q8_0.
# Tests as llama-bench: prefill of P tokens (pp), generation of N tokens (tg); R rounds in which
# the four runs alternate, medians reported.
# Also: load-to-first-token wall time and peak RSS of `retort run`, and the file sizes.
# Usage: tools/bench-runtime.sh [--threads 1,2] [--prompt 512] [--gen 128] [--reps 3]
#        [--swiftc-flags "-Xswiftc -target-cpu -Xswiftc haswell"]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
threads=1,2 prompt=512 gen=128 reps=3 flags=""
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --prompt) prompt="$2"; shift 2 ;;
    --gen) gen="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --swiftc-flags) flags="$2"; shift 2 ;;
    *) die "unknown option '$1'" ;;
  esac
done
bash tools/setup.sh --llama-cpp
bin="$RETORT_CACHE/llama.cpp/bin"
teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
# Extra compiler flags build into their own folder, so the default build is left as it is.
[[ -n "$flags" ]] && flags="--scratch-path .build-flags $flags"
# shellcheck disable=SC2086
swift build -c release --product retort $flags 2>&1 | grep -E 'error|warning' || true
# shellcheck disable=SC2086
retort="$(swift build -c release --show-bin-path $flags)/retort"
work="$RETORT_CACHE/bench-runtime"
mkdir -p "$work"
[[ -f "$work/teacher-f32.rtm" ]] || "$retort" convert --from "$teacher" --to "$work/teacher-f32.rtm"
[[ -f "$work/teacher-int8.rtm" ]] || "$retort" convert --from "$teacher" --to "$work/teacher-int8.rtm" --int8
[[ -f "$work/teacher-f32.gguf" ]] || "$retort" export --model "$teacher" --to "$work/teacher-f32.gguf" --type f32
[[ -f "$work/teacher-q8_0.gguf" ]] || "$retort" export --model "$teacher" --to "$work/teacher-q8_0.gguf" --type q8_0
out="$(mktemp -d)"
log "llama-bench and retort bench: threads $threads, pp$prompt, tg$gen, $reps rounds (the four runs alternate within each round)"
for r in $(seq 1 "$reps"); do
  for m in f32 q8_0; do
    "$bin/llama-bench" -m "$work/teacher-$m.gguf" -p "$prompt" -n "$gen" -t "$threads" -r 1 -o json \
      >"$out/llama-$m.$r.json" 2>"$out/llama-$m.log" || die "llama-bench failed; see $out/llama-$m.log"
  done
  for m in f32 int8; do
    "$retort" bench --models "$work/teacher-$m.rtm" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" \
      --reps 1 --no-cold --no-peers --json >"$out/retort-$m.$r.json" 2>"$out/retort-$m.log" || die "retort bench failed; see $out/retort-$m.log"
  done
done
for m in f32 int8; do
  # Load to first token, and peak RSS, of a whole `retort run` process (warm page cache).
  /usr/bin/time -f "%e %M" -o "$out/run-$m.time" "$retort" run --model "$work/teacher-$m.rtm" \
    --prompt "The capital of France is" --max-tokens 1 --temperature 0 --threads 2 >/dev/null 2>"$out/run-$m.log"
done
python3 - "$out" "$work" "$prompt" "$gen" "$reps" <<'PY'
import json, os, statistics, sys
out, work, prompt, gen, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def collect(pairs):
    cells = {}
    for key, value in pairs: cells.setdefault(key, []).append(value)
    return {k: statistics.median(v) for k, v in cells.items()}
def llama(m):
    pairs = []
    for r in range(1, reps + 1):
        for row in json.load(open(f"{out}/llama-{m}.{r}.json")):
            test = "pp" if row["n_prompt"] > 0 and row["n_gen"] == 0 else "tg"
            pairs.append(((test, row["n_threads"]), row["avg_ts"]))
    return collect(pairs)
def retort(m):
    pairs, extra = [], {}
    for r in range(1, reps + 1):
        for row in json.load(open(f"{out}/retort-{m}.{r}.json"))["models"][0]["threads"]:
            pairs.append((("pp", row["threads"]), row["prefillTokensPerSecond"]["median"]))
            pairs.append((("tg", row["threads"]), row["decodeTokensPerSecond"]["median"]))
            pairs.append((("load", 0), row["warmLoadMilliseconds"]["median"]))
    return collect(pairs)
print(f"\n{'model':34} {'test':>7} {'threads':>7} {'llama.cpp t/s':>14} {'retort t/s':>11} {'ratio':>7}   (medians of {reps})")
for rm, lm in [("f32", "f32"), ("int8", "q8_0")]:
    L, R = llama(lm), retort(rm)
    for test in ["pp", "tg"]:
        for key in sorted(k for k in L if k[0] == test):
            t = key[1]
            if (test, t) not in R: continue
            name = f"runtime {rm} vs llama.cpp {lm.upper()}"
            label = f"{test}{prompt if test == 'pp' else gen}"
            print(f"{name:34} {label:>7} {t:>7} {L[key]:14.1f} {R[(test, t)]:11.1f} {R[(test, t)] / L[key]:6.2f}x")
print()
for m in ["f32", "int8"]:
    wall, rss_kb = open(f"{out}/run-{m}.time").read().split()
    size = os.path.getsize(f"{work}/teacher-{m}.rtm")
    R = retort(m)
    print(f"runtime {m}: file {size / 2**20:.1f} MiB; `retort run` to first token {float(wall) * 1000:.0f} ms wall "
          f"(process start, load, prefill, one token); peak RSS {int(rss_kb) / 1024:.1f} MiB "
          f"= {int(rss_kb) * 1024 / size:.2f}x file; in-process load {R[('load', 0)]:.0f} ms")
PY
