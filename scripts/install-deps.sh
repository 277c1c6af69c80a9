#!/usr/bin/env bash
# Installs what tagih needs to build, run and test on Debian (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

apt_packages=(libnghttp2-dev libsqlite3-dev pkg-config tzdata curl openssl nghttp2-client nghttp2-server)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing apt packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${TAGIH_SKIP_PIP:-0}" != "1" ]; then
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$here/requirements-test.txt"
fi
