#!/usr/bin/env bash
# Builds the llama.cpp peer tools (llama-perplexity, llama-bench, llama-tokenize, llama-quantize)
# from the PyPI sdist of llama-cpp-python, which vendors llama.cpp. Nothing of it is committed.
# Output: $RETORT_CACHE/llama.cpp/bin/. Idempotent: a finished build is reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
root="$RETORT_CACHE/llama.cpp"
bin="$root/bin"
if [[ -x "$bin/llama-perplexity" && -x "$bin/llama-bench" && -x "$bin/llama-tokenize" && -x "$bin/llama-quantize" && "$(cat "$root/version" 2>/dev/null)" == "$version" ]]; then
  log "llama.cpp peer tools present in $bin"
  exit 0
fi
need_cmd cmake
mkdir -p "$root"
sdist="$root/llama_cpp_python-$version.tar.gz"
if [[ ! -f "$sdist" ]]; then
  log "downloading llama-cpp-python==$version sdist"
  pip download --quiet --no-deps --no-binary :all: -d "$root" "llama-cpp-python==$version"
fi
src="$root/src"
rm -rf "$src" && mkdir -p "$src"
tar xzf "$sdist" -C "$src" --strip-components=3 "llama_cpp_python-$version/vendor/llama.cpp"
log "configuring llama.cpp (CPU only, native ISA)"
cmake -S "$src" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >"$root/cmake.log"
log "building llama-perplexity llama-bench llama-tokenize llama-quantize (a few minutes on 2 cores)"
cmake --build "$root/build" -j"$(nproc)" --target llama-perplexity llama-bench llama-tokenize llama-quantize >"$root/build.log"
mkdir -p "$bin"
for t in llama-perplexity llama-bench llama-tokenize llama-quantize; do cp "$root/build/bin/$t" "$bin/"; done
echo "$version" >"$root/version"
log "llama.cpp peer tools in $bin"
