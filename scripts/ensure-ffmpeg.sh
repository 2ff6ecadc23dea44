#!/usr/bin/env bash
# Make sure Debian's ffmpeg (ffmpeg + ffprobe) is present: `spreadtrace media hash` uses
# it to read video frames for the video hashes, and the video tests use its test sources
# (testsrc, mandelbrot, ...) to make clips. Idempotent and quick when it is installed;
# installs it with apt-get when running as root. Otherwise it says what is missing and
# the video tests skip locally (CI runs as root, so there they always run).
set -u
if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ffmpeg for the video hashes and tests (apt-get)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
    status=$?
    if [ $status -ne 0 ]; then
        echo "apt-get could not install ffmpeg (exit $status)" >&2
        exit $status
    fi
    exit 0
fi
echo "ffmpeg/ffprobe missing and not root: video hashing is unavailable and the video" \
     "tests will be skipped; install the Debian package ffmpeg to run them" >&2
exit 0
