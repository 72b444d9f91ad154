# Shared helpers for the tools/ scripts. Source it; do not run it.
export RETORT_CACHE="${RETORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/retort}"
log() { printf '[retort] %s\n' "$*" >&2; }
die() { printf '[retort] error: %s\n' "$*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found; run tools/setup.sh first"; }

# build_embedded_runner OUT RUNNER LINKER EMBEDDED_LIB SCRIPT
# Builds RetortRuntime + the C shim + the minimal runner (tools/arm64/main.swift) as Embedded Swift
# into the file RUNNER, with objects under OUT/obj, using the caller's arrays `swift_flags` (target
# included) and `c_flags`, the C compiler "$clang", the linker command LINKER and the Embedded
# Swift libraries in EMBEDDED_LIB. Rebuilds only when a source, a flag, the toolchain or the
# calling SCRIPT changed (stamp in OUT/stamp).
build_embedded_runner() {
  local out="$1" runner="$2" linker="$3" embedded_lib="$4" script="$5"
  local obj="$out/obj" repo f c o stamp compile_log
  repo="$(pwd)"
  mkdir -p "$obj/module" "$obj/shim"
  local runtime_sources=() c_sources=() c_objects=()
  while IFS= read -r f; do runtime_sources+=("$f"); done < <(find Sources/RetortRuntime -name '*.swift' | LC_ALL=C sort)
  while IFS= read -r f; do c_sources+=("$f"); done < <(find Sources/CRetortShim -name '*.c' | LC_ALL=C sort)
  stamp="$( {
    swiftc --version 2>&1
    echo "${swift_flags[*]} | ${c_flags[*]} | $linker"
    sha256sum "${runtime_sources[@]}" "${c_sources[@]}" Sources/CRetortShim/include/*.h tools/arm64/*.swift \
      tools/lib.sh "$script"
  } | sha256sum | cut -d' ' -f1)"
  if [[ -x "$runner" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
    log "runner up to date: $runner"
    return
  fi
  rm -f "$out/stamp"
  log "building RetortRuntime + runner as Embedded Swift (${swift_flags[1]})"
  {
    echo "module CRetortShim {"
    for f in "$repo"/Sources/CRetortShim/include/*.h; do echo "    header \"$f\""; done
    echo "    export *"
    echo "}"
  } >"$obj/shim/module.modulemap"
  compile_log="$out/compile.log"
  : >"$compile_log"
  swiftc "${swift_flags[@]}" -I "$obj/shim" -module-name RetortRuntime \
    -emit-module -emit-module-path "$obj/module/RetortRuntime.swiftmodule" \
    -c "${runtime_sources[@]}" -o "$obj/RetortRuntime.o" >>"$compile_log" 2>&1 \
    || { grep -A3 'error:' "$compile_log" >&2; die "Embedded Swift build of RetortRuntime failed; see $compile_log"; }
  swiftc "${swift_flags[@]}" -I "$obj/shim" -I "$obj/module" -module-name RetortRunner \
    -c tools/arm64/main.swift -o "$obj/runner.o" >>"$compile_log" 2>&1 \
    || { grep -A3 'error:' "$compile_log" >&2; die "Embedded Swift build of the runner failed; see $compile_log"; }
  for c in "${c_sources[@]}"; do
    o="$obj/shim/$(basename "$c" .c).o"
    "$clang" "${c_flags[@]}" -c "$c" -o "$o" >>"$compile_log" 2>&1 || { cat "$compile_log" >&2; die "compiling $c failed"; }
    c_objects+=("$o")
  done
  $linker -o "$runner.tmp" -Wl,--gc-sections "$obj/runner.o" "$obj/RetortRuntime.o" "${c_objects[@]}" \
    -L "$embedded_lib" -lswiftUnicodeDataTables -lpthread -lm >>"$compile_log" 2>&1 \
    || { cat "$compile_log" >&2; die "linking the runner failed; see $compile_log"; }
  mv "$runner.tmp" "$runner"
  echo "$stamp" >"$out/stamp"
}
