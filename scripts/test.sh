#!/usr/bin/env bash
# One command for the whole test suite: install what is missing, build, run every test target
# (unit tests, the live-socket suite with curl, nghttp, h2load and Python h2/httpx clients,
# and the kill -9 recovery test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
