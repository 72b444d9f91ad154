#!/usr/bin/env bash
# Peak memory of RetortRuntime itself, on the x86-64 host, against the issue's budget
# (peak RSS ≤ file + KV cache + 10%).
#
#   tools/runtime-rss.sh [--prompt-tokens N] [--max-tokens N] [--threads N] MODEL.rtm [MODEL.rtm ...]
#
# Builds the minimal runner (tools/arm64/main.swift: RetortRuntime + the C shim, nothing else) as
# Embedded Swift for the host — the way it ships to a device, without the CLI's Swift runtime,
# Foundation and argument parser — runs a greedy decode of --max-tokens tokens after a prompt of
# about --prompt-tokens tokens (cut from the test split) on each model under `/usr/bin/time -v`,
# and prints, per model: file size, KV cache and whole run state (as the session reports them),
# peak RSS, and peak RSS / (file + KV cache). Also the stripped size of the host runner.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
repo="$(pwd)"
source tools/lib.sh
prompt_tokens=256 max_tokens=64 threads=2
models=()
while (($#)); do
  case "$1" in
    --prompt-tokens) prompt_tokens="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (expected --prompt-tokens N, --max-tokens N, --threads N)" ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || die "no model given (usage: tools/runtime-rss.sh [options] MODEL.rtm ...)"
for n in "$prompt_tokens" "$max_tokens" "$threads"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "options take non-negative integers (got '$n')"
done
for m in "${models[@]}"; do [[ -f "$m" ]] || die "$m: no such file"; done
need_cmd swiftc
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; run tools/setup.sh (Debian package 'time')"
toolchain="$(dirname "$(readlink -f "$(command -v swiftc)")")"
clang="$toolchain/clang"
embedded_lib="$toolchain/../lib/swift/embedded/x86_64-unknown-linux-gnu"
[[ -f "$embedded_lib/libswiftUnicodeDataTables.a" ]] || die "no Embedded Swift x86-64 Linux libraries in $embedded_lib"
[[ "$(uname -m)" == x86_64 ]] || die "this script measures on an x86-64 host (uname -m: $(uname -m))"

out="$RETORT_CACHE/host-embedded"
runner="$out/retort-runner"
swift_flags=(-target x86_64-unknown-linux-gnu -enable-experimental-feature Embedded -wmo -parse-as-library -O
             -Xfrontend -function-sections)
c_flags=(-O2 -ffunction-sections -fdata-sections -I Sources/CRetortShim/include)
build_embedded_runner "$out" "$runner" "$clang" "$embedded_lib" "$0"
strip -o "$runner.stripped" "$runner"
runner_bytes="$(wc -c <"$runner.stripped")"
log "runner: $runner (stripped: $(( (runner_bytes + 1023) / 1024 )) KiB)"

# A prompt of about --prompt-tokens tokens: ~4 bytes per token of English prose.
text="$RETORT_CACHE/corpus/test.txt"
if [[ -f "$text" ]]; then prompt="$(head -c $((prompt_tokens * 4)) "$text")"; else prompt="$(printf 'the sea and the sky %.0s' $(seq 1 $((prompt_tokens / 5 + 1))))"; fi

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
printf '%-28s %10s %10s %10s %10s %14s  %s\n' model "file MiB" "KV MiB" "state MiB" "peak RSS" "RSS/(file+KV)" "goal ≤ 1.10"
for m in "${models[@]}"; do
  err="$(mktemp)"
  if ! /usr/bin/time -v "$runner" "$m" "$prompt" "$max_tokens" --threads "$threads" >/dev/null 2>"$err"; then
    grep -v -E '^[[:space:]]' "$err" >&2; rm -f "$err"; die "$m: the runner failed"
  fi
  file_bytes="$(wc -c <"$m")"
  kv="$(sed -n 's/^session: kv-cache bytes \([0-9]*\);.*/\1/p' "$err")"
  state="$(sed -n 's/^session: .*state bytes \([0-9]*\);.*/\1/p' "$err")"
  used="$(sed -n 's/^session: .*capacity \([0-9]*\); prompt tokens \([0-9]*\)$/\2 prompt + '"$max_tokens"' new/p' "$err")"
  rss_kib="$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): \([0-9]*\)$/\1/p' "$err")"
  rm -f "$err"
  [[ -n "$kv" && -n "$rss_kib" ]] || die "$m: could not read the runner's session line or time's peak RSS"
  rss=$((rss_kib * 1024))
  ratio="$(awk -v r="$rss" -v f="$file_bytes" -v k="$kv" 'BEGIN { printf "%.3f", r / (f + k) }')"
  verdict="$(awk -v x="$ratio" 'BEGIN { print (x <= 1.10 ? "met" : "not met") }')"
  printf '%-28s %10s %10s %10s %10s %13s×  %s (%s)\n' "$(basename "$m")" "$(mib "$file_bytes")" "$(mib "$kv")" \
    "$(mib "$state")" "$(mib "$rss")" "$ratio" "$verdict" "$used"
done
echo "host runner, stripped: $runner_bytes bytes; threads $threads"
