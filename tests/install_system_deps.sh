#!/usr/bin/env bash
# Installs the Debian packages that tests drive for real, when missing and
# when we may (root with apt). Without them, those tests skip and say why.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: not root or no apt-get; tests needing ${need[*]} will skip" >&2
    exit 0
fi
echo "install_system_deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || echo "install_system_deps: apt-get install ${need[*]} failed; those tests will skip" >&2
exit 0
