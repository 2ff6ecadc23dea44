"""Acceptance: every planted coordinated group comes back as one cluster (pairwise P, R >= 0.9)."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from tests._accounts_helpers import SYNTH_SEEDS, synth_world

POSTS = 20_000


def _pairs(members: set[str]) -> set[tuple[str, str]]:
    return set(itertools.combinations(sorted(members), 2))


@pytest.mark.slow
@pytest.mark.parametrize("seed", SYNTH_SEEDS)
def test_planted_groups_recovered_as_clusters(seed: int, tmp_path_factory) -> None:
    w = synth_world(seed, POSTS, tmp_path_factory.getbasetemp())
    groups = w["truth"].filter(pl.col("coordination_group").is_not_null())
    assert groups["coordination_group"].n_unique() >= 2  # planted groups to recover
    cluster_of = dict(zip(w["clusters"]["account_id"], w["clusters"]["cluster_id"], strict=True))
    members_of: dict[str, set[str]] = {}
    for account, cluster in cluster_of.items():
        members_of.setdefault(cluster, set()).add(account)
    for (group,), sub in groups.group_by("coordination_group"):
        planted = set(sub["account_id"])
        # the cluster holding most of the group's members
        found = [cluster_of[a] for a in planted if a in cluster_of]
        assert found, f"group {group} not found in any cluster"
        cluster = max(set(found), key=found.count)
        recovered = members_of[cluster]
        # pairwise precision / recall of "same cluster" against "same planted group"
        true_pairs, got_pairs = _pairs(planted), _pairs(recovered)
        hits = len(true_pairs & got_pairs)
        recall = hits / len(true_pairs)
        precision = hits / len(got_pairs)
        assert recall >= 0.9, (group, recall, sorted(planted - recovered))
        assert precision >= 0.9, (group, precision, sorted(recovered - planted))
