#!/usr/bin/env bash
# Training throughput of Retort's engine vs PyTorch (CPU, eager) on the same Llama-family student,
# batch, sequence, loss (α·τ²·KL + (1−α)·CE against fixed random teacher logits), gradient
# clipping and AdamW step, at the same thread counts, alternating the two in each round.
# Prints each run's JSON line, then per thread count the medians and the ratio Retort / PyTorch
# for tokens/s and peak RSS. Needs PyTorch: tools/setup.sh --torch.
# Usage: tools/bench-training.sh [--threads 1,2] [--rounds 3] [--steps 6] [-- extra shape flags]
#   shape flags (both sides): --layers --dim --heads --kv-heads --ffn --vocab --seq --batch
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
source tools/lib.sh
threads=1,2
rounds=3
steps=6
shape=()
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --) shift; shape=("$@"); break ;;
    *) die "unknown option '$1' (expected --threads, --rounds, --steps, -- shape flags)" ;;
  esac
done
python3 -c "import torch" 2>/dev/null || die "PyTorch is not installed: run tools/setup.sh --torch"
log "building retort (release)"
swift build -c release --product retort 2>&1 | grep -E 'error|warning|Build complete' || true
retort="$(swift build -c release --show-bin-path)/retort"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for ((round = 1; round <= rounds; round++)); do
  for t in ${threads//,/ }; do
    log "round $round, $t thread(s)"
    "$retort" bench-training --threads "$t" --steps "$steps" --warmup 2 "${shape[@]}" | tee -a "$results"
    python3 tools/bench_training_torch.py --threads "$t" --steps "$steps" --warmup 2 "${shape[@]}" | tee -a "$results"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
shape = rows[0]["shape"]
print(f"\nshape: {shape}")
print(f"{'threads':>7} {'retort tok/s':>13} {'pytorch tok/s':>14} {'ratio':>7} {'retort RSS MiB':>15} {'pytorch RSS MiB':>16} {'ratio':>7}")
for t in sorted({r["threads"] for r in rows}):
    def med(fw, key):
        return statistics.median(r[key] for r in rows if r["framework"] == fw and r["threads"] == t)
    a, b = med("retort", "tokens_per_second"), med("pytorch", "tokens_per_second")
    ra, rb = med("retort", "peak_rss_bytes") / 2**20, med("pytorch", "peak_rss_bytes") / 2**20
    print(f"{t:>7} {a:>13.1f} {b:>14.1f} {a / b:>6.2f}× {ra:>15.0f} {rb:>16.0f} {ra / rb:>6.2f}×")
for t in sorted({r["threads"] for r in rows}):
    a = statistics.median(r["tokens_per_second"] for r in rows if r["framework"] == "retort" and r["threads"] == t)
    b = statistics.median(r["tokens_per_second"] for r in rows if r["framework"] == "pytorch" and r["threads"] == t)
    print(f"training tokens/s, {t} thread(s): Retort / PyTorch = {a / b:.2f}× (medians of "
          f"{sum(1 for r in rows if r['framework'] == 'retort' and r['threads'] == t)} runs each)")
PY
