"""Acceptance: planted bots in synthetic worlds are separated by behaviour (ROC AUC >= 0.9)."""

from __future__ import annotations

import polars as pl
import pytest

from spreadtrace.graph.bots import roc_auc
from tests._accounts_helpers import SYNTH_SEEDS, synth_world

POSTS = 20_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", SYNTH_SEEDS)
def test_planted_bots_separated_by_behaviour(seed: int, tmp_path_factory) -> None:
    w = synth_world(seed, POSTS, tmp_path_factory.getbasetemp())
    joined = w["truth"].join(w["scores"], on="account_id", how="inner")
    # every account with posts or a profile got a score
    assert joined.height == w["truth"].height
    with_posts = joined.filter(pl.col("behaviour_score").is_not_null())
    y = with_posts["is_bot"].to_numpy()
    assert y.sum() >= 20  # enough planted bots for the AUC to mean something
    assert roc_auc(y, with_posts["behaviour_score"].to_numpy()) >= 0.9
    # and the pooled score (profile + behaviour) keeps the separation
    assert roc_auc(joined["is_bot"].to_numpy(), joined["bot_score"].to_numpy()) >= 0.9
    # bot-like accounts carry reasons; scores in [0, 1]
    flagged = joined.filter(pl.col("is_bot_like"))
    assert flagged.height > 0
    assert not flagged["bot_reasons"].str.starts_with("no strong").any()
    assert joined["bot_score"].is_between(0, 1).all()
