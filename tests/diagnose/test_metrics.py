"""metrics.ari: the gap between the sides' ARIs against the ground truth."""

from __future__ import annotations

import pytest

from harness.diagnose import metrics

from ._fixtures_graph import barcodes, hex_grid, load_stage, make_context

NAMES = barcodes(20)
SPATIAL = hex_grid(4, 5)


def judge(tmp_path, reference_scores, candidate_scores):
    context = make_context(
        tmp_path,
        {"load": load_stage(NAMES, SPATIAL), "metrics": {"scores": reference_scores, "config": {}}},
        {"load": load_stage(NAMES, SPATIAL), "metrics": {"scores": candidate_scores, "config": {}}},
    )
    [result] = metrics.check_ari(context, "chained")
    assert result.check_id == "metrics.ari"
    assert result.stage == "metrics"
    assert result.artifact == "scores"
    return result


def test_large_gap_fails(tmp_path):
    result = judge(
        tmp_path,
        {"ari": 0.56, "nmi": 0.65, "ari_unrefined": 0.52},
        {"ari": 0.21, "nmi": 0.30, "ari_unrefined": 0.20},
    )
    assert result.status == "fail"
    assert result.metric == "ari_gap"
    assert result.observed == pytest.approx(0.35)
    assert result.diagnosis.startswith("candidate ARI 0.21 vs reference 0.56 (gap 0.35 > 0.05)")
    assert "NMI 0.30 vs 0.65" in result.diagnosis
    assert "before refinement ARI 0.20 vs 0.52" in result.diagnosis
    assert result.details["scores"]["nmi"] == {"reference": 0.65, "candidate": 0.30}


def test_small_gap_passes(tmp_path):
    result = judge(tmp_path, {"ari": 0.56, "nmi": 0.65}, {"ari": 0.53, "nmi": 0.6})
    assert result.status == "pass"
    assert "(gap 0.03 <= 0.05)" in result.diagnosis


def test_better_candidate_passes(tmp_path):
    result = judge(tmp_path, {"ari": 0.56}, {"ari": 0.69})
    assert result.status == "pass"
    assert result.observed == pytest.approx(-0.13)


def test_gap_near_threshold_keeps_digits(tmp_path):
    result = judge(tmp_path, {"ari": 0.56}, {"ari": 0.5099})
    assert result.status == "fail"
    assert "(gap 0.0501 > 0.05)" in result.diagnosis


def test_unlabelled_slice_skips(tmp_path):
    result = judge(tmp_path, {"labels": "absent", "ari": None}, {"labels": "absent", "ari": None})
    assert result.status == "skip"


def test_one_sided_score_errors(tmp_path):
    result = judge(tmp_path, {"ari": 0.5}, {"labels": "absent", "ari": None})
    assert result.status == "error"
    assert "candidate's metrics/scores has no numeric 'ari'" in result.description
