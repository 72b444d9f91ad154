#!/usr/bin/env bash
# ARM64 cross-build and emulated test of RetortRuntime:
#   1. setup (Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user) and the host CLI (debug);
#   2. cross-builds RetortRuntime + the minimal runner tools/arm64/main.swift for aarch64 Linux as
#      Embedded Swift (C shim with the toolchain's clang, link with aarch64-linux-gnu-gcc) into
#      $RETORT_CACHE/arm64 (rebuilt only when a source, a flag or the toolchain changed);
#   3. writes tiny random models with `retort synth` (int8 and f32 weights);
#   4. greedy-decodes the same prompt with `retort run --ids` on the x86-64 host and with the runner
#      under qemu-aarch64, and requires identical token ids:
#        int8 on -cpu max (SDOT: detected path neonDot), int8 on -cpu cortex-a53 (ARMv8.0, no SDOT:
#        detected fallback neon), int8 on -cpu max forced to neon, f32 on -cpu max;
#   5. prints the runner's stripped size. Exits non-zero on any mismatch.
# Usage: tools/arm64-test.sh [--max-tokens N] [--seed N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
repo="$(pwd)"
source tools/lib.sh
max_tokens=48 seed=1
while (($#)); do
  case "$1" in
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) die "unknown option '$1' (expected --max-tokens N, --seed N)" ;;
  esac
done
# Letters, digits, punctuation, spaces and non-ASCII (é, ö: \p{L}; —: \p{P}; ½: \p{N}), so the
# device's pre-tokenizer consults its Unicode tables.
prompt="Hello, the world of things and stuff — wörld, café ½ and 42 on the sea."

bash tools/setup.sh
for tool in swiftc aarch64-linux-gnu-gcc aarch64-linux-gnu-strip qemu-aarch64; do need_cmd "$tool"; done
toolchain="$(dirname "$(readlink -f "$(command -v swiftc)")")"
clang="$toolchain/clang"
[[ -x "$clang" ]] || die "clang not found beside swiftc ($toolchain): the Swift toolchain is incomplete"
embedded_lib="$toolchain/../lib/swift/embedded/aarch64-none-none-elf"
[[ -f "$embedded_lib/libswiftUnicodeDataTables.a" ]] || die "no Embedded Swift aarch64 libraries in $embedded_lib"
sysroot=/usr/aarch64-linux-gnu
[[ -f "$sysroot/include/stdio.h" ]] || die "$sysroot/include/stdio.h missing: install libc6-dev-arm64-cross (tools/setup.sh)"

# MARK: Host CLI (the shared .build, debug like tools/test.sh)
log "building retort (host, debug)"
host_log="$(mktemp)"
if ! swift build --product retort >"$host_log" 2>&1; then
  grep -E 'error' "$host_log" >&2 || cat "$host_log" >&2
  die "host build failed"
fi
retort="$(swift build --show-bin-path)/retort"

# MARK: Cross-build
out="$RETORT_CACHE/arm64"
runner="$out/retort-arm64"
swift_flags=(-target aarch64-none-none-elf -enable-experimental-feature Embedded -wmo -parse-as-library -O
             -Xfrontend -function-sections -Xcc -isystem -Xcc "$sysroot/include")
# ARMv8.0 baseline for everything; the SDOT kernels enable dotprod per function (target attribute)
# and only run when the CPU reports it.
c_flags=(--target=aarch64-linux-gnu -march=armv8-a -O2 -ffunction-sections -fdata-sections
         -isystem "$sysroot/include" -I Sources/CRetortShim/include)
build_embedded_runner "$out" "$runner" aarch64-linux-gnu-gcc "$embedded_lib" "$0"
aarch64-linux-gnu-strip -o "$runner.stripped" "$runner"
size="$(wc -c <"$runner.stripped")"
log "runner: $runner ($(file -b "$runner" 2>/dev/null | cut -d, -f1-2 || echo aarch64)); stripped: $size bytes ($(( (size + 1023) / 1024 )) KiB)"

# MARK: Models and runs
passed=0 failed=0
run_case() { # run_case NAME MODEL EXPECTED_KERNELS QEMU_CPU [runner options...]
  local name="$1" model="$2" want_kernels="$3" cpu="$4"; shift 4
  local host device err kernels host_kernels
  err="$(mktemp)"
  host="$("$retort" run --model "$model" --prompt "$prompt" --temperature 0 --max-tokens "$max_tokens" --ids 2>"$err")" \
    || { cat "$err" >&2; die "$name: retort run failed on the host"; }
  host_kernels="$(sed -n 's/.*kernels: \([A-Za-z0-9]*\);.*/\1/p' "$err")"
  device="$(qemu-aarch64 -cpu "$cpu" -L "$sysroot" "$runner" "$model" "$prompt" "$max_tokens" "$@" 2>"$err")" \
    || { cat "$err" >&2; die "$name: the aarch64 runner failed under qemu-aarch64 -cpu $cpu"; }
  kernels="$(sed -n 's/^kernels: \([A-Za-z0-9]*\);.*/\1/p' "$err")"
  rm -f "$err"
  printf '%s\n  x86-64  (%s):%*s%s\n  aarch64 (qemu -cpu %s, %s): %s\n' "$name" "${host_kernels:-?}" \
    $(( ${#cpu} + ${#kernels} + 13 - ${#host_kernels} )) "" "$host" "$cpu" "${kernels:-?}" "$device"
  if [[ "$kernels" != "$want_kernels" ]]; then
    log "MISMATCH $name: the runner used kernel path '${kernels:-?}', expected '$want_kernels'"
    failed=$((failed + 1))
  elif [[ -z "$host" || "$host" != "$device" ]]; then
    log "MISMATCH $name: aarch64 token ids differ from the x86-64 host's"
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
}
"$retort" synth --out "$out/tiny-int8.rtm" --weights int8 --seed "$seed" >/dev/null
"$retort" synth --out "$out/tiny-f32.rtm" --weights f32 --seed "$seed" >/dev/null
log "greedy decode, $max_tokens tokens, prompt: $prompt"
run_case "int8, SDOT CPU, detected path" "$out/tiny-int8.rtm" neonDot max
run_case "int8, ARMv8.0 CPU without SDOT, detected fallback" "$out/tiny-int8.rtm" neon cortex-a53
run_case "int8, SDOT CPU, fallback forced" "$out/tiny-int8.rtm" neon max --kernels neon
run_case "f32, SDOT CPU" "$out/tiny-f32.rtm" neonDot max
echo "arm64: $passed passed, $failed failed"
((failed == 0)) || die "aarch64 token ids do not match the x86-64 host's (see MISMATCH above)"
