#!/usr/bin/env bash
# Benchmark: RetortRuntime vs llama.cpp's llama-bench on the same model, same machine, same
# threads, in one run. The teacher is converted to .rtm (f32, and absmax int8) and exported to
# GGUF (F32, and Q8_0) by retort itself, so both sides run the same weights:
#   runtime f32  vs llama.cpp F32;   runtime int8 (W8A8) vs llama.cpp Q8_0.
# Tests as llama-bench: prefill of P tokens (pp), generation of N tokens (tg), median of R reps.
# Also: load-to-first-token wall time and peak RSS of `retort run`, and the file sizes.
# Usage: tools/bench-runtime.sh [--threads 1,2] [--prompt 512] [--gen 128] [--reps 3]
#        [--swiftc-flags "-Xswiftc -target-cpu -Xswiftc x86-64-v3"]
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
log "llama-bench and retort bench: threads $threads, pp$prompt, tg$gen, $reps reps"
for m in f32 q8_0; do
  "$bin/llama-bench" -m "$work/teacher-$m.gguf" -p "$prompt" -n "$gen" -t "$threads" -r "$reps" -o json \
    >"$out/llama-$m.json" 2>"$out/llama-$m.log" || die "llama-bench failed; see $out/llama-$m.log"
done
for m in f32 int8; do
  "$retort" bench --models "$work/teacher-$m.rtm" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" \
    --reps "$reps" --json >"$out/retort-$m.jsonl" 2>"$out/retort-$m.log" || die "retort bench failed; see $out/retort-$m.log"
  # Load to first token, and peak RSS, of a whole `retort run` process (warm page cache).
  /usr/bin/time -f "%e %M" -o "$out/run-$m.time" "$retort" run --model "$work/teacher-$m.rtm" \
    --prompt "The capital of France is" --max-tokens 1 --temperature 0 --threads 2 >/dev/null 2>"$out/run-$m.log"
done
python3 - "$out" "$work" "$prompt" "$gen" <<'PY'
import json, os, sys
out, work, prompt, gen = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def llama(m):
    rows = json.load(open(f"{out}/llama-{m}.json"))
    res = {}
    for r in rows:
        test = "pp" if r["n_prompt"] > 0 and r["n_gen"] == 0 else "tg"
        res[(test, r["n_threads"])] = r["avg_ts"]
    return res
def retort(m):
    res = {}
    for line in open(f"{out}/retort-{m}.jsonl"):
        r = json.loads(line)
        res[("pp", r["threads"])] = r["prefillTokensPerSecond"]
        res[("tg", r["threads"])] = r["decodeTokensPerSecond"]
        res["rss", r["threads"]] = r["peakRSSBytes"]; res["kv"] = r["kvCacheBytes"]; res["load"] = r["loadMilliseconds"]
    return res
print(f"\n{'model':34} {'test':>7} {'threads':>7} {'llama.cpp t/s':>14} {'retort t/s':>11} {'ratio':>7}")
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
          f"= {int(rss_kb) * 1024 / size:.2f}x file; in-process load {R['load']:.0f} ms")
PY
