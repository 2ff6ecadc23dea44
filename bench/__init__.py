"""Benchmarks: speed and memory targets, each printing a ratio against a baseline
measured in the same run. Not tests: they never assert on wall time.
Run all with ``make bench`` (``python -m bench``) or one with ``python -m bench NAME``.
"""

import re as _re
import resource as _resource
from pathlib import Path as _Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB: its own ``VmHWM``, not ``ru_maxrss``.

    Linux carries ``ru_maxrss`` over fork and exec, so a child started by a bench parent
    that had grown (generating a 20M-post world) reports the parent's high-water mark:
    the 20M "nothing new" child of ``bench scale`` said 10.3 GB for a build that opened
    the store and returned in 0.01 s. ``VmHWM`` belongs to the address space, which exec
    replaces, so it starts afresh. ``ru_maxrss`` remains the fallback off Linux.
    """
    try:
        status = _Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    m = _re.search(r"^VmHWM:\s+(\d+) kB", status, _re.M)
    if m:
        return int(m.group(1)) / 1024
    return _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024
