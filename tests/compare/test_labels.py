"""Label-vector comparison: ARI, label counts, contingency summary, evidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from harness.compare.labels import compare_labels
from harness.compare.result import Threshold
from harness.errors import InputError
from tests.compare._real import truth_labels


@settings(max_examples=80, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=1, max_size=80),
    seed=st.integers(0, 2**32 - 1),
)
def test_renamed_partition_passes(labels, seed):
    reference = np.array(labels)
    renaming = np.random.default_rng(seed).permutation(7)
    candidate = np.array([f"domain_{value}" for value in renaming[reference]])

    result = compare_labels(reference, candidate)

    assert result.status == "pass"
    assert result.observed == 1.0
    assert result.details["n_disagree_with_majority"] == 0


def test_ari_matches_scikit_learn():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 5, size=300)
    candidate = np.where(rng.random(300) < 0.8, reference, rng.integers(0, 5, size=300))

    result = compare_labels(reference, candidate, threshold=Threshold(0.5, "min", source="user"))

    assert result.observed == pytest.approx(adjusted_rand_score(reference, candidate))
    assert result.status == ("pass" if result.observed >= 0.5 else "fail")


def test_summary_counts_labels_and_top_pairs():
    reference = np.array(["L1", "L1", "L2", "L2", "L3", "L3", "L3"])
    candidate = np.array([0, 0, 1, 1, 1, 1, 2])
    barcodes = np.array([f"BC{index}-1" for index in range(7)])

    result = compare_labels(reference, candidate, keys=barcodes, top_pairs=2)

    assert result.status == "fail"
    assert result.details["n_labels_reference"] == 3
    assert result.details["n_labels_candidate"] == 3
    assert result.details["top_pairs"] == [
        {"reference": "L1", "candidate": 0, "count": 2},
        {"reference": "L2", "candidate": 1, "count": 2},
    ]
    assert result.details["majority_mapping"] == {"L1": 0, "L2": 1, "L3": 1}
    assert [row["key"] for row in result.evidence] == ["BC6-1"]
    assert result.evidence[0]["majority_candidate_label"] == 1


def test_missing_labels_fail_whatever_threshold():
    reference = np.array(["a", "b", None, "a"], dtype=object)
    candidate = np.array(["a", "b", "b", "a"], dtype=object)

    result = compare_labels(reference, candidate, threshold=Threshold(-1.0, "min", source="user"))

    assert result.status == "fail"
    assert "labels missing at 1 reference" in result.description
    assert result.evidence[0]["key"] == 2


@pytest.mark.parametrize(
    ("reference", "candidate"),
    [(["a", "b"], ["a"]), ([], []), ([["a"]], [["a"]])],
    ids=["length-mismatch", "empty", "two-dimensional"],
)
def test_incomparable_vectors_are_error_status(reference, candidate):
    result = compare_labels(np.array(reference), np.array(candidate))

    assert result.status == "error"


@pytest.mark.parametrize(
    ("options", "match"),
    [({"top_pairs": -1}, "top_pairs"), ({"keys": np.array(["A-1"])}, "keys")],
    ids=["negative-top-pairs", "keys-wrong-length"],
)
def test_invalid_arguments_raise(options, match):
    with pytest.raises(InputError, match=match):
        compare_labels(np.array([1, 2]), np.array([1, 2]), **options)


def test_real_layers_with_merged_domains(dlpfc_151673):
    layers = truth_labels(dlpfc_151673)
    reference = layers.to_numpy(dtype=str)
    candidate = np.where(reference == "Layer6", "Layer5", reference)

    result = compare_labels(reference, candidate, keys=layers.index.to_numpy(dtype=str))

    assert result.status == "fail"
    assert result.details["n_labels_reference"] == 7
    assert result.details["n_labels_candidate"] == 6
    assert result.details["majority_mapping"]["Layer6"] == "Layer5"
    assert 0.5 < result.observed < 1.0
