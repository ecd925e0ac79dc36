"""pseudo_labels.count and pseudo_labels.agreement with planted k and seeding divergences."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from harness.diagnose import pseudo_labels

from ._fixtures_graph import barcodes, hex_grid, load_stage, make_context

FALLBACK_PHRASE = (
    "candidate uses k = 300 pseudo-label clusters, the reference 80 (STAIG's fallback default "
    "300 applies when the slice config lacks `k`)"
)

N_SPOTS = 600
NAMES = barcodes(N_SPOTS)
SPATIAL = hex_grid(20, 30)
IMG_EMB = np.random.default_rng(0).normal(size=(N_SPOTS, 16))


def kmeans_labels(k, *, embedding=IMG_EMB, seed=0):
    return KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(embedding)


LABELS_80 = kmeans_labels(80)
LABELS_300 = kmeans_labels(300)


def sides(tmp_path, reference_labels, candidate_labels, *, reference_config, candidate_config,
          candidate_img_emb=None, candidate_order=None):
    order = np.arange(N_SPOTS) if candidate_order is None else candidate_order
    cand_emb = IMG_EMB if candidate_img_emb is None else candidate_img_emb
    reference = {
        "load": load_stage(NAMES, SPATIAL),
        "image_embedding": {"img_emb": IMG_EMB, "config": {}},
        "pseudo_labels": {"pseudo_labels": reference_labels, "config": reference_config},
    }
    candidate = {
        "load": load_stage(NAMES[order], SPATIAL[order]),
        "image_embedding": {"img_emb": cand_emb[order], "config": {}},
        "pseudo_labels": {"pseudo_labels": candidate_labels[order], "config": candidate_config},
    }
    return make_context(tmp_path, reference, candidate)


def test_same_k_passes(tmp_path):
    order = np.random.default_rng(1).permutation(N_SPOTS)
    context = sides(tmp_path, LABELS_80, LABELS_80, reference_config={"k": 80},
                    candidate_config={"n_pseudo_labels": 80}, candidate_order=order)
    [count] = pseudo_labels.check_count(context, "chained")
    [agreement] = pseudo_labels.check_agreement(context, "chained")
    assert count.status == "pass"
    assert count.observed == 0
    assert agreement.status == "pass"
    assert agreement.observed == pytest.approx(1.0)


def test_fallback_k_300_named(tmp_path):
    context = sides(tmp_path, LABELS_80, LABELS_300, reference_config={"k": 80},
                    candidate_config={"n_pseudo_labels": 300, "random_state": 0})
    [count] = pseudo_labels.check_count(context, "chained")
    assert count.check_id == "pseudo_labels.count"
    assert count.metric == "count_difference"
    assert count.status == "fail"
    assert count.observed == 220
    assert count.diagnosis == FALLBACK_PHRASE
    assert count.details["k_candidate"] == 300

    [agreement] = pseudo_labels.check_agreement(context, "chained")
    assert agreement.status == "fail"
    assert "80 and 300 pseudo-labels" in agreement.diagnosis
    assert "see pseudo_labels.count" in agreement.diagnosis


def test_unrecorded_k_uses_label_counts(tmp_path):
    context = sides(tmp_path, LABELS_80, LABELS_300, reference_config={"k": 80},
                    candidate_config={"profile": "legacy"})
    [count] = pseudo_labels.check_count(context, "chained")
    assert count.status == "fail"
    assert count.diagnosis.startswith(
        "candidate has 300 distinct pseudo-labels, the reference 80"
    )
    assert "fallback default 300" in count.diagnosis


def test_empty_cluster_is_named(tmp_path):
    fewer = LABELS_80.copy()
    fewer[fewer == 79] = 78
    context = sides(tmp_path, LABELS_80, fewer, reference_config={"k": 80},
                    candidate_config={"pseudo_label_k": 80})
    [count] = pseudo_labels.check_count(context, "chained")
    assert count.status == "fail"
    assert count.observed == 1
    assert "both sides configure k = 80" in count.diagnosis
    assert "79 distinct pseudo-labels" in count.diagnosis


def test_other_seed_is_named(tmp_path):
    other = kmeans_labels(80, seed=7)
    context = sides(tmp_path, LABELS_80, other, reference_config={"k": 80, "random_state": 0,
                                                                  "n_init": 10},
                    candidate_config={"n_pseudo_labels": 80, "random_state": 7, "n_init": 1})
    [agreement] = pseudo_labels.check_agreement(context, "chained")
    assert agreement.status == "fail"
    assert agreement.check_id == "pseudo_labels.agreement"
    assert "random_state reference 0, candidate 7" in agreement.diagnosis
    assert "n_init reference 10, candidate 1" in agreement.diagnosis


def test_upstream_embedding_is_named(tmp_path):
    shifted = IMG_EMB + np.random.default_rng(3).normal(scale=1.0, size=IMG_EMB.shape)
    context = sides(tmp_path, LABELS_80, kmeans_labels(80, embedding=shifted),
                    reference_config={"k": 80}, candidate_config={"n_pseudo_labels": 80},
                    candidate_img_emb=shifted)
    [agreement] = pseudo_labels.check_agreement(context, "chained")
    assert agreement.status == "fail"
    assert "the image embedding differs upstream" in agreement.diagnosis


def test_isolated_labels_follow_reference_order(tmp_path):
    # Fed the reference's img_emb, the isolated candidate lists spots in reference order,
    # while its own chained run lists them in another order.
    order = np.random.default_rng(4).permutation(N_SPOTS)
    reference = {
        "load": load_stage(NAMES, SPATIAL),
        "pseudo_labels": {"pseudo_labels": LABELS_80, "config": {"k": 80}},
    }
    candidate = {
        "load": load_stage(NAMES[order], SPATIAL[order]),
        "pseudo_labels": {"pseudo_labels": LABELS_80[order], "config": {"n_pseudo_labels": 80}},
    }
    isolated = {"pseudo_labels": {"pseudo_labels": LABELS_80, "config": {"n_pseudo_labels": 80}}}
    context = make_context(tmp_path, reference, candidate, isolated=isolated)
    [agreement] = pseudo_labels.check_agreement(context, "isolated")
    [count] = pseudo_labels.check_count(context, "isolated")
    assert agreement.status == "pass"
    assert agreement.observed == pytest.approx(1.0)
    assert count.status == "pass"
