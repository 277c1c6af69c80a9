#!/usr/bin/env bash
# One command for a new user: install what is missing, build (release), start the service on
# its embedded default (SQLite under ./data) with a synthetic demo population.
# Extra arguments go to `tagih serve` (for example --port 9090).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TAGIH_SKIP_PIP=1 bash scripts/install-deps.sh
swift build -c release --product tagih
exec .build/release/tagih serve --data ./data --demo 10000 "$@"
