#!/usr/bin/env bash
# Make sure a Java 17+ runtime is present: pyspark (the `spark` extra: `spreadtrace spark
# build` and its tests in local mode) starts a JVM. Debian's openjdk-17-jre-headless is
# the runtime Spark 4 supports. Idempotent and quick when a JVM is installed; installs it
# with apt-get when running as root. Otherwise it says what is missing: the Spark tests
# then skip locally, and fail in CI (CI=true), where Java must be there.
set -u
if command -v java >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Java 17 for the Spark engine and its tests (apt-get)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # the JRE's post-install scripts expect this man directory on slim images
    mkdir -p /usr/share/man/man1
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends \
        openjdk-17-jre-headless >/dev/null
    status=$?
    if [ $status -ne 0 ]; then
        echo "apt-get could not install openjdk-17-jre-headless (exit $status)" >&2
        exit $status
    fi
    exit 0
fi
echo "java missing and not root: the Spark engine is unavailable and the Spark tests" \
     "will be skipped; install the Debian package openjdk-17-jre-headless to run them" >&2
exit 0
