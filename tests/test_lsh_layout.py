"""The LSH layouts looked up instead of searched equal datasketch's search."""

from __future__ import annotations

import pytest
from datasketch import MinHashLSH

from spreadtrace.graph.narratives import KNOWN_LSH_LAYOUTS, lsh_layout
from spreadtrace.pipeline.narratives import NarrativeParams


@pytest.mark.parametrize(("threshold", "num_perm"), sorted(KNOWN_LSH_LAYOUTS))
def test_each_known_layout_is_datasketchs(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert KNOWN_LSH_LAYOUTS[(threshold, num_perm)] == (lsh.b, lsh.r)


def test_the_default_settings_are_looked_up_and_others_searched():
    params = NarrativeParams()
    # the build's own settings never import datasketch's search
    assert (params.text_threshold, params.num_perm) in KNOWN_LSH_LAYOUTS
    lsh = MinHashLSH(threshold=0.65, num_perm=96)
    assert (0.65, 96) not in KNOWN_LSH_LAYOUTS
    assert lsh_layout(0.65, 96) == (lsh.b, lsh.r)
