#!/usr/bin/env bash
# The test command: setup (Debian packages, verified teacher + corpus), then the whole test suite
# (unit tests on synthetic models, integration tests on the real teacher and corpus).
# Integration tests skip when inputs are missing, except under CI=1, where that is a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
bash tools/setup.sh
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
swift test --skip-build "$@"
