"""``harness report --tolerance`` judges a saved report again without running anything."""

from __future__ import annotations

import pytest

from harness.compare.result import CheckResult, Threshold
from harness.diff.command import rejudge_report
from harness.errors import InputError
from tests.report._samples import sample_report


def embedding_check() -> CheckResult:
    overlap = Threshold(0.5, "min")
    return CheckResult.judged(
        check_id="train.embedding", stage="train", artifact="emb", metric="linear_cka",
        observed=0.57, threshold=Threshold(0.9, "min"),
        details={"knn_overlap": {"observed": 0.41, "threshold": overlap.to_json()}},
    )


def test_main_bound_judged_again():
    report = rejudge_report(sample_report(checks=[embedding_check()]), [("train.embedding", "cka", 0.5)])

    [check] = report.checks
    assert check.threshold == Threshold(0.5, "min", source="user")
    assert check.status == "pass"


def test_nested_bound_is_rejected():
    report = sample_report(checks=[embedding_check()])

    with pytest.raises(InputError, match="train.embedding:knn_overlap: a bound applied inside"):
        rejudge_report(report, [("train.embedding", "knn_overlap", 0.3)])


def test_unknown_check_named():
    with pytest.raises(InputError, match="not in this report"):
        rejudge_report(sample_report(checks=[embedding_check()]), [("graph.edges", "jaccard", 0.5)])
