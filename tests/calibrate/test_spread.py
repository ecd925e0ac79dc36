"""Seed-to-seed spread of the reference and the thresholds derived from it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.calibrate.spread import (
    DEFAULT_MARGIN,
    MEASURES,
    Spread,
    default_thresholds,
    derive_thresholds,
    measure_pair,
    measure_spread,
)
from harness.diff.thresholds import DEFAULTS

from ..diagnose._fixtures_graph import barcodes, hex_grid, load_stage, write_side

N_SPOTS = 240
NAMES = barcodes(N_SPOTS)
SPATIAL = hex_grid(12, 20)
LAYERS = np.repeat(np.array(["L1", "L2", "L3", "WM"]), N_SPOTS // 4)


def run(tmp_path, name, *, emb, domains, refined, ari):
    return write_side(
        tmp_path / name,
        {
            "load": load_stage(NAMES, SPATIAL, labels=LAYERS),
            "train": {"emb": emb, "loss": np.linspace(3.0, 1.0, 10), "config": {}},
            "cluster": {"domains": domains, "backend": {"algorithm": "mclust"}, "config": {}},
            "refine": {"refined": refined, "config": {}},
            "metrics": {"scores": {"ari": ari, "nmi": ari}, "config": {}},
        },
    )


def embedding(seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(4, 8))
    return centres[np.repeat(np.arange(4), N_SPOTS // 4)] + rng.normal(size=(N_SPOTS, 8))


def test_run_against_itself_has_no_spread(tmp_path):
    records = run(tmp_path, "a", emb=embedding(0), domains=LAYERS, refined=LAYERS, ari=0.5)
    values = measure_pair(records, records)
    assert set(values) == set(MEASURES)
    assert values["train.embedding:cka"] == pytest.approx(1.0)
    assert values["train.embedding:knn_overlap"] == pytest.approx(1.0)
    assert values["cluster.domains:ari"] == pytest.approx(1.0)
    assert values["refine.agreement:ari"] == pytest.approx(1.0)
    assert values["metrics.ari:ari_gap"] == 0.0


def test_spread_collects_every_seed_pair(tmp_path):
    noisy = LAYERS.copy()
    noisy[:30] = "WM"
    runs = {
        0: run(tmp_path, "s0", emb=embedding(0), domains=LAYERS, refined=LAYERS, ari=0.50),
        1: run(tmp_path, "s1", emb=embedding(1), domains=noisy, refined=LAYERS, ari=0.42),
        2: run(tmp_path, "s2", emb=embedding(0) + 0.1, domains=LAYERS, refined=noisy, ari=0.47),
    }
    spreads = measure_spread(runs)
    gap = spreads["metrics.ari:ari_gap"]
    assert gap.pairs == ((0, 1), (0, 2), (1, 2))
    assert gap.values == pytest.approx((0.08, 0.03, 0.05))
    assert spreads["cluster.domains:ari"].values[1] == pytest.approx(1.0)
    assert min(spreads["cluster.domains:ari"].values) < 0.9
    thresholds = derive_thresholds(spreads)
    assert thresholds["metrics.ari:ari_gap"] == pytest.approx(0.08 + DEFAULT_MARGIN)
    assert thresholds["cluster.domains:ari"] == pytest.approx(
        min(spreads["cluster.domains:ari"].values) - DEFAULT_MARGIN
    )
    summary = gap.summary()
    assert summary["n_pairs"] == 3
    assert summary["max"] == pytest.approx(0.08)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=10),
    margin=st.floats(min_value=0.0, max_value=0.5),
)
def test_thresholds_bound_every_measured_pair(values, margin):
    pairs = tuple((i, i + 1) for i in range(len(values)))
    spreads = {
        "train.embedding:cka": Spread("train.embedding:cka", tuple(values), pairs),
        "metrics.ari:ari_gap": Spread("metrics.ari:ari_gap", tuple(values), pairs),
    }
    thresholds = derive_thresholds(spreads, margin=margin)
    # Every reference-vs-reference pair passes its own calibrated threshold.
    assert all(value >= thresholds["train.embedding:cka"] for value in values)
    assert all(value <= thresholds["metrics.ari:ari_gap"] for value in values)
    assert thresholds["train.embedding:cka"] >= 0.0


def test_defaults_listed_for_each_measure():
    defaults = default_thresholds()
    assert set(defaults) == set(MEASURES)
    assert defaults["train.embedding:cka"] == DEFAULTS[("train.embedding", "cka")].value

