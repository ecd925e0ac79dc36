"""Metrics: ARI and NMI against textbook formulas, unlabelled spots and missing truth."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError, LabelJoinError
from reference.stages import metrics
from reference.stages.metrics import missing_label_mask, score_domains

from ._slices import (
    dlpfc_folder,
    read_in_tissue_positions,
    read_truth,
    stage_context,
    stage_params,
)


def textbook_ari(truth: list[str], predicted: list[str]) -> float:
    """Hubert and Arabie's adjusted Rand index from the contingency table."""
    pairs = Counter(zip(truth, predicted, strict=True))
    rows = Counter(truth)
    columns = Counter(predicted)
    index = sum(math.comb(count, 2) for count in pairs.values())
    row_sum = sum(math.comb(count, 2) for count in rows.values())
    column_sum = sum(math.comb(count, 2) for count in columns.values())
    expected = row_sum * column_sum / math.comb(len(truth), 2)
    maximum = (row_sum + column_sum) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def textbook_nmi(truth: list[str], predicted: list[str]) -> float:
    """Mutual information over the arithmetic mean of the two entropies."""
    n = len(truth)
    pairs = Counter(zip(truth, predicted, strict=True))
    rows = Counter(truth)
    columns = Counter(predicted)
    mutual = sum(
        count / n * math.log(count * n / (rows[a] * columns[b])) for (a, b), count in pairs.items()
    )
    entropy_rows = -sum(count / n * math.log(count / n) for count in rows.values())
    entropy_columns = -sum(count / n * math.log(count / n) for count in columns.values())
    mean = (entropy_rows + entropy_columns) / 2
    if mean == 0:
        return 1.0
    return mutual / mean


def test_hand_example_scores() -> None:
    truth = np.array(["L1", "L1", "L2", "L2"])
    refined = np.array(["a", "a", "b", "c"])
    scores = score_domains(refined, truth, truth, n_barcodes=4)
    # Same-label pairs: 2 in the truth, 1 in the domains, 1 shared among 6 pairs:
    # ARI = (1 - 2*1/6) / ((2 + 1)/2 - 2*1/6) = 4/7.
    assert scores["ari"] == pytest.approx(4 / 7, rel=1e-12)
    assert scores["nmi"] == pytest.approx(textbook_nmi(truth.tolist(), refined.tolist()), rel=1e-12)
    assert scores["ari_unrefined"] == 1.0
    assert scores["nmi_unrefined"] == 1.0
    assert scores["n_domains"] == 3
    assert scores["n_truth_labels"] == 2


def test_unlabelled_spots_excluded() -> None:
    truth = np.array(["L1", "NA", "L1", "", "L2", "nan", "L2", " na "])
    refined = np.array(["x", "y", "x", "y", "z", "y", "z", "y"])
    scores = score_domains(refined, refined, truth, n_barcodes=8)
    assert scores["n_spots_unlabelled"] == 4
    assert scores["n_spots_scored"] == 4
    assert scores["ari"] == 1.0
    assert scores["n_domains"] == 2


def test_missing_label_mask_values() -> None:
    labels = np.array(["NA", "na", "NaN", "nan", "", "  ", "None", "Layer1", "WM", "NAB"])
    assert missing_label_mask(labels).tolist() == [True] * 7 + [False] * 3


def test_real_dlpfc_layers_score() -> None:
    folder = dlpfc_folder()
    barcodes, _ = read_in_tissue_positions(folder)
    truth = read_truth(folder, barcodes)
    shifted = np.roll(truth, 25)
    scores = score_domains(shifted, truth, truth, n_barcodes=barcodes.size)
    assert scores["n_spots_scored"] == 3611
    assert scores["n_spots_unlabelled"] == 28
    assert scores["n_truth_labels"] == 7
    assert scores["ari_unrefined"] == 1.0
    labelled = ~missing_label_mask(truth)
    expected = textbook_ari(truth[labelled].tolist(), shifted[labelled].tolist())
    assert scores["ari"] == pytest.approx(expected, rel=1e-10)
    assert 0 < scores["ari"] < 1


def test_run_without_labels_raises() -> None:
    inputs = {
        "refine/refined": np.array(["a", "b"]),
        "cluster/domains": np.array(["a", "b"]),
        "load/barcodes": np.array(["AAA-1", "CCC-1"]),
    }
    with pytest.raises(InputError, match="ground-truth labels"):
        metrics.run(inputs, stage_context(), stage_params())


def test_run_writes_scores() -> None:
    inputs = {
        "refine/refined": np.array(["a", "a", "b", "b"]),
        "cluster/domains": np.array(["a", "b", "b", "b"]),
        "load/labels": np.array(["L1", "L1", "L2", "L2"]),
        "load/barcodes": np.array(["A-1", "C-1", "G-1", "T-1"]),
    }
    outputs = metrics.run(inputs, stage_context(), stage_params())
    scores = outputs["scores"]
    assert set(scores) == {
        "ari",
        "nmi",
        "ari_unrefined",
        "nmi_unrefined",
        "n_spots_scored",
        "n_spots_unlabelled",
        "n_domains",
        "n_truth_labels",
    }
    assert scores["ari"] == 1.0
    assert scores["ari_unrefined"] < 1.0
    validate_outputs(get_stage("metrics"), outputs, {"N": 4})
    dumps_json(outputs)


@pytest.mark.parametrize(
    ("refined", "domains", "labels", "error", "match"),
    [
        (["a", "b"], ["a", "b", "c"], ["L", "L", "L"], LabelJoinError, "refine/refined"),
        (["a", "b", "c"], ["a", "b"], ["L", "L", "L"], LabelJoinError, "cluster/domains"),
        (["a", "b", "c"], ["a", "b", "c"], ["L", "L"], LabelJoinError, "load/labels"),
        (["a", "b", "c"], ["a", "b", "c"], ["NA", "", "nan"], InputError, "none of the 3"),
    ],
    ids=["short-refined", "short-domains", "short-labels", "all-unlabelled"],
)
def test_invalid_inputs_raise(
    refined: list[str], domains: list[str], labels: list[str], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        score_domains(np.array(refined), np.array(domains), np.array(labels), n_barcodes=3)


@settings(max_examples=40, deadline=None)
@given(
    truth=st.lists(st.sampled_from(["L1", "L2", "L3", "WM", "NA"]), min_size=3, max_size=60),
    seed=st.integers(0, 2**16),
)
def test_scores_match_textbook_and_ignore_names(truth: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.array(truth)
    refined = rng.integers(0, 4, size=labels.size).astype(str)
    labelled = labels != "NA"
    if not labelled.any():
        with pytest.raises(InputError):
            score_domains(refined, refined, labels, n_barcodes=labels.size)
        return
    scores = score_domains(refined, refined, labels, n_barcodes=labels.size)
    if labelled.sum() == 1:
        # A single spot forms no pair; scikit-learn defines both scores as 1 there.
        assert scores["ari"] == 1.0
        return
    kept_truth = labels[labelled].tolist()
    kept_refined = refined[labelled].tolist()
    assert scores["ari"] == pytest.approx(textbook_ari(kept_truth, kept_refined), abs=1e-10)
    assert scores["nmi"] == pytest.approx(textbook_nmi(kept_truth, kept_refined), abs=1e-10)

    renamed = np.char.add("domain-", refined[::-1])[::-1]
    assert score_domains(renamed, renamed, labels, n_barcodes=labels.size) == scores
