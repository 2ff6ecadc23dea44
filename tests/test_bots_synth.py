"""Acceptance on synthetic worlds: planted bots separated by behaviour (ROC AUC >= 0.9);
rings of human accounts come out coordinated, not bot-like."""

from __future__ import annotations

import numpy as np
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
    # Automation: bots outside the planted rings (amplifiers, schedulers, office-hours
    # bots). Ring members, bots or not, behave like people in the generator except for
    # their lock-step co-sharing, which is coordination, scored apart (below).
    solo = with_posts.filter(pl.col("coordination_group").is_null())
    y = solo["is_bot"].to_numpy()
    assert y.sum() >= 20  # enough planted bots for the AUC to mean something
    assert roc_auc(y, solo["behaviour_score"].to_numpy()) >= 0.9
    # every planted bot, ring members included, stands out on one of the two signals
    either = np.maximum(joined["bot_score"].to_numpy(), joined["coordination_score"].to_numpy())
    assert roc_auc(joined["is_bot"].to_numpy(), either) >= 0.9
    # bot-like accounts carry automation reasons; almost no human is called a bot
    flagged = joined.filter(pl.col("is_bot_like"))
    assert flagged.height >= 0.3 * joined["is_bot"].sum()
    assert not flagged["bot_reasons"].str.starts_with("no clear").any()
    humans = joined.filter(~pl.col("is_bot"))
    assert humans["is_bot_like"].sum() <= 0.01 * humans.height
    assert joined["bot_score"].is_between(0, 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SYNTH_SEEDS)
def test_a_ring_of_humans_is_coordinated_not_bot_like(seed: int, tmp_path_factory) -> None:
    # two planted rings of human accounts (human profiles and timing) that co-repost in
    # lock-step, on top of the usual bot and mixed rings
    w = synth_world(seed, POSTS, tmp_path_factory.getbasetemp(), human_groups=2)
    first_human = w["params"].groups + 1  # groups g1..g{groups} are the usual rings
    humans = w["truth"].filter(
        pl.col("coordination_group").is_not_null()
        & ~pl.col("is_bot")
        & (pl.col("coordination_group").str.slice(1).cast(pl.Int64) >= first_human)
    )
    assert humans["coordination_group"].n_unique() == 2 and humans.height >= 12
    joined = humans.join(w["scores"], on="account_id", how="left").join(
        w["clusters"].select("account_id", "cluster_id"), on="account_id", how="left"
    )
    for (group,), sub in joined.group_by("coordination_group"):
        clusters = sub["cluster_id"].drop_nulls()
        # found as a coordination cluster: most members in one cluster
        assert clusters.len() >= 0.8 * sub.height, group
        assert clusters.value_counts()["count"].max() >= 0.8 * sub.height, group
    # a high coordination_score (NPMI with the strongest partner) ...
    assert joined["coordination_score"].median() >= 0.5
    # ... and at most 1 in 10 called bot-like
    assert joined["is_bot_like"].sum() <= 0.1 * joined.height
    # the humans of the mixed ring are not called bots for their lock-step either
    mixed = w["truth"].filter((pl.col("coordination_group") == "g2") & ~pl.col("is_bot"))
    flagged = mixed.join(w["scores"], on="account_id")["is_bot_like"].sum()
    assert flagged <= max(1, 0.1 * mixed.height)
