"""Attribution statistics, the choice of stages to swap, and how rows are ranked and drawn."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.attribute.command import divergent_stages
from harness.attribute.stats import mean_interval
from harness.compare.result import CheckResult, Threshold
from harness.report import AttributionRow
from harness.report.figures import attribution_figure
from harness.report.model import rank_attribution

SWAPPABLE = {"patches", "genes", "train", "cluster", "refine"}


def check(stage, status, *, origin=None):
    details = {} if origin is None else {"origin": origin}
    result = CheckResult.judged(
        check_id=f"{stage}.x",
        stage=stage,
        artifact="a",
        metric="m",
        observed=1.0,
        threshold=Threshold(0.5, "max"),
        details=details,
    )
    return dataclasses.replace(result, status=status)


def test_interval_matches_student_t():
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    # t(0.975, df=2) = 4.3027; sample sd = 1.
    half = 4.302653 / math.sqrt(3)
    assert mean == pytest.approx(2.0)
    assert low == pytest.approx(2.0 - half, rel=1e-5)
    assert high == pytest.approx(2.0 + half, rel=1e-5)


def test_single_seed_has_unknown_bounds():
    mean, low, high = mean_interval([0.25])
    assert mean == 0.25
    assert math.isnan(low)
    assert math.isnan(high)


@pytest.mark.parametrize(
    ("values", "confidence", "message"),
    [
        ([0.1, float("nan")], 0.95, "finite"),
        ([0.1, 0.2], 1.0, "strictly between 0 and 1"),
    ],
)
def test_bad_interval_input_is_named(values, confidence, message):
    with pytest.raises(ValueError, match=message):
        mean_interval(values, confidence=confidence)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=2, max_size=12))
def test_interval_brackets_mean_and_widens_with_confidence(values):
    mean, low, high = mean_interval(values, confidence=0.9)
    _, wide_low, wide_high = mean_interval(values, confidence=0.99)
    assert low <= mean + 1e-12
    assert mean <= high + 1e-12
    assert wide_low <= low + 1e-12
    assert high <= wide_high + 1e-12


def test_inherited_and_passing_stages_are_not_swapped():
    checks = [
        check("patches", "fail"),
        check("genes", "fail", origin="own"),
        check("train", "fail", origin="inherited"),
        check("cluster", "waived"),
        check("refine", "pass"),
        check("metrics", "fail"),
        check("load", "error"),
    ]
    assert divergent_stages(checks, SWAPPABLE) == ["patches", "genes", "cluster"]


def hyperparameter_check(status, stages):
    result = CheckResult.judged(
        check_id="config.hyperparameters",
        stage="config",
        artifact="config",
        metric="differing_keys",
        observed=float(len(stages)),
        threshold=Threshold(0.0, "max"),
        evidence=[
            {"key": f"key{i}", "reference": 1, "candidate": 2, "stages": names}
            for i, names in enumerate(stages)
        ],
    )
    return dataclasses.replace(result, status=status)


def test_stages_with_differing_settings_are_divergent():
    checks = [
        check("genes", "fail"),
        hyperparameter_check("fail", ["train", "patches, image_features", "graph"]),
    ]
    assert divergent_stages(checks, SWAPPABLE) == ["patches", "genes", "train"]


def test_settings_count_only_when_their_check_fails():
    checks = [hyperparameter_check("pass", ["train"]), check("cluster", "fail", origin="inherited")]
    assert divergent_stages(checks, SWAPPABLE) == []


def rows():
    return [
        AttributionRow("genes", 0.08, 0.02, 0.14, n_runs=3, direction="fix"),
        AttributionRow("patches", 0.25, 0.20, 0.30, n_runs=3, direction="fix"),
        AttributionRow("patches", -0.30, -0.35, -0.25, n_runs=3, direction="break"),
        AttributionRow(
            "cluster", float("nan"), float("nan"), float("nan"), n_runs=0, direction="fix"
        ),
    ]


def test_ranking_puts_fixes_first_by_size():
    ranked = [(row.factor, row.direction) for row in rank_attribution(rows())]
    assert ranked == [
        ("patches", "fix"),
        ("genes", "fix"),
        ("cluster", "fix"),
        ("patches", "break"),
    ]


def test_direction_survives_json_round_trip():
    row = rows()[2]
    assert AttributionRow.from_json(row.to_json()) == row


def test_attribution_chart_drawn_without_nan_rows():
    figure = attribution_figure(rows())
    assert figure.png is not None
    assert figure.png.startswith(b"\x89PNG")
    assert "confidence" in figure.note
    empty = attribution_figure([rows()[3]])
    assert empty.png is None
    assert "no factor" in empty.note


def test_unmeasured_row_reads_not_available():
    from harness.report.markdown import render_markdown
    from tests.report._samples import sample_report

    unmeasured = AttributionRow(
        "patch_filter", math.nan, math.nan, math.nan, n_runs=0, direction="fix",
        description="not measured, job fix patch_filter seeds 0,1 failed: InputError",
    )
    text = render_markdown(sample_report(attribution=[*rows()[:2], unmeasured]))

    assert "| 3 | patch_filter | fix | n/a | n/a | 0 | not measured, job fix" in text
