#!/usr/bin/env bash
# Make sure Debian's chromium + chromium-driver are present for the browser tests.
# Idempotent and quick when they are already installed; installs them with apt-get
# when running as root. Otherwise it says what is missing and the browser tests skip
# locally (CI runs as root, so there they always run).
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium + chromium-driver for the browser tests (apt-get)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null
    status=$?
    if [ $status -ne 0 ]; then
        echo "apt-get could not install chromium/chromium-driver (exit $status)" >&2
        exit $status
    fi
    exit 0
fi
echo "chromium/chromedriver missing and not root: browser tests will be skipped;" \
     "install Debian packages chromium and chromium-driver to run them" >&2
exit 0
