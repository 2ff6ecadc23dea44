"""The dashboard serves while real `spreadtrace ingest` and `build` processes write the store.

The exact scenario the snapshot design exists for: readers must never block the
writer (every ingest and build succeeds, none reports the store busy) and must never
see half a build (in every answer, every post sits in exactly one cascade).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from tests.conftest import REPO
from tests.test_dashboard_serve import serving

SAMPLE = REPO / "data" / "sample"

WRITER = textwrap.dedent(
    """
    import subprocess, sys
    db, chunks = sys.argv[1], sys.argv[2:]
    cli = [sys.executable, "-c", "from spreadtrace.cli import main; main()", "--db", db]
    for chunk in chunks:
        for args in (["ingest", "--quiet", chunk], ["build", "--quiet"]):
            done = subprocess.run(cli + args, capture_output=True, text=True)
            if done.returncode not in (0, 65):  # 65: the file had rejected lines
                sys.exit(f"{args} exited {done.returncode}: {done.stderr}")
    """
)


def _status(base: str) -> dict:
    with urllib.request.urlopen(base + "/_spreadtrace/status", timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


@pytest.mark.slow
def test_dashboard_serves_while_ingest_and_build_write(tmp_path):
    if not (SAMPLE / "posts.csv.gz").exists():
        pytest.skip("bundled sample data/sample not present")
    lines = gzip.open(SAMPLE / "posts.csv.gz", "rb").read().splitlines(keepends=True)
    header, body = lines[0], lines[1:6_001]
    chunks = []
    for i in range(2):
        path = tmp_path / f"posts-{i}.csv"
        path.write_bytes(header + b"".join(body[i * 3000 : (i + 1) * 3000]))
        chunks.append(str(path))
    db = str(tmp_path / "live.duckdb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-c", "from spreadtrace.cli import main; main()", "--db", db]
    for args in (
        ["ingest", "--quiet", str(SAMPLE / "accounts.csv.gz"), str(SAMPLE / "follows.csv.gz")],
        ["build", "--quiet"],
    ):
        subprocess.run(cli + args, check=True, cwd=REPO, env=env, capture_output=True)

    with serving(db) as base:
        first = _status(base)
        assert first["posts"] == 0 and first["build_id"] == 1
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, db, *chunks],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = []
        try:
            while writer.poll() is None:
                s = _status(base)
                # Whole builds only: every post of the snapshot is in exactly one cascade.
                assert s["posts"] == s["post_cascades"] == s["cascade_posts"], s
                if not seen or seen[-1] != s["build_id"]:
                    seen.append(s["build_id"])
                time.sleep(0.02)
            _, err = writer.communicate(timeout=120)
        finally:
            if writer.poll() is None:
                writer.kill()
        assert writer.returncode == 0, err  # the writer was never blocked nor refused
        last = _status(base)
    assert last["build_id"] == 3 and last["posts"] > 5_500
    assert last["posts"] == last["post_cascades"] == last["cascade_posts"]
    # The app followed the builds forward as they were published.
    assert seen == sorted(seen) and seen[-1] == 3, seen
