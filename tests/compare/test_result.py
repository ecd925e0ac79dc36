"""Threshold, CheckResult, offline re-judging and the JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.compare.result import (
    MAX_EVIDENCE_ROWS,
    CheckResult,
    Threshold,
    format_pair,
)
from harness.errors import InputError

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _result(observed: float, threshold: Threshold, **extra) -> CheckResult:
    return CheckResult.judged(
        check_id="patches.centers", stage="patches", artifact="centers",
        metric="max_error_px", observed=observed, threshold=threshold, **extra,
    )


@pytest.mark.parametrize(
    ("threshold", "observed", "accepted"),
    [
        (Threshold(1.0, "max"), 0.5, True),
        (Threshold(1.0, "max"), 1.0, True),
        (Threshold(1.0, "max"), 1.0000001, False),
        (Threshold(0.9, "min"), 0.95, True),
        (Threshold(0.9, "min"), 0.9, True),
        (Threshold(0.9, "min"), 0.89, False),
        (Threshold(math.inf, "max"), 1e300, True),
        (Threshold(1.0, "max"), math.nan, False),
        (Threshold(0.0, "min"), math.nan, False),
    ],
    ids=[
        "max-below", "max-equal", "max-above", "min-above", "min-equal", "min-below",
        "infinite-bound", "nan-under-max", "nan-under-min",
    ],
)
def test_threshold_accepts_by_direction(threshold, observed, accepted):
    assert threshold.accepts(observed) is accepted


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"value": 1.0, "direction": "less"}, "direction"),
        ({"value": 1.0, "direction": "max", "source": "guess"}, "source"),
        ({"value": math.nan, "direction": "max"}, "NaN"),
        ({"value": "1", "direction": "max"}, "expected a number"),
        ({"value": True, "direction": "max"}, "expected a number"),
    ],
    ids=["bad-direction", "bad-source", "nan-value", "string-value", "bool-value"],
)
def test_threshold_rejects_invalid_arguments(arguments, match):
    with pytest.raises(InputError, match=match):
        Threshold(**arguments)


def test_description_shows_value_threshold_and_status():
    result = _result(2.5, Threshold(1.0, "max", unit="px"), context="3/10 spots beyond")

    assert result.status == "fail"
    assert result.description == (
        "FAIL patches.centers: max_error_px 2.5 px > 1 px (default threshold); 3/10 spots beyond"
    )


def test_description_adds_digits_near_boundary():
    result = _result(0.10000001, Threshold(0.1, "max"))

    assert "0.10000001 > 0.1" in result.description


@given(finite_floats, finite_floats)
@example(1.0000000000000002, 1.0)
@example(0.1 + 0.2, 0.3)
def test_format_pair_tells_distinct_values_apart(left, right):
    shown_left, shown_right = format_pair(left, right)

    assert (shown_left == shown_right) == (left == right)


@settings(max_examples=200)
@given(
    observed=finite_floats,
    bound_before=finite_floats,
    bound_after=finite_floats,
    direction=st.sampled_from(["max", "min"]),
)
def test_rejudge_follows_moved_threshold(observed, bound_before, bound_after, direction):
    original = _result(observed, Threshold(bound_before, direction))
    moved = Threshold(bound_after, direction, source="user")

    rejudged = original.rejudge(moved)

    if direction == "max":
        expected = "pass" if observed <= bound_after else "fail"
    else:
        expected = "pass" if observed >= bound_after else "fail"
    assert rejudged.status == expected
    assert rejudged.observed == original.observed
    assert rejudged.threshold == moved
    assert rejudged.description.startswith(expected.upper())


def test_rejudge_flips_fail_to_pass():
    failing = _result(0.3, Threshold(0.2, "max", unit="px"))

    loosened = failing.rejudge(Threshold(0.5, "max", unit="px", source="calibration"))
    tightened = loosened.rejudge(Threshold(0.25, "max", unit="px", source="user"))

    assert failing.status == "fail"
    assert loosened.status == "pass"
    assert "(calibration threshold)" in loosened.description
    assert tightened.status == "fail"


def test_rejudge_keeps_forced_failure():
    result = _result(0.0, Threshold(0.0, "max"), forced_failure="NaN at 2 candidate elements")

    rejudged = result.rejudge(Threshold(1.0, "max", source="user"))

    assert result.status == "fail"
    assert rejudged.status == "fail"
    assert "NaN at 2 candidate elements" in rejudged.description


@pytest.mark.parametrize(
    ("status", "new_bound", "expected"),
    [
        ("warn", 0.1, "warn"),
        ("warn", 1.0, "pass"),
        ("waived", 1.0, "waived"),
        ("waived", 0.1, "waived"),
    ],
    ids=["warn-still-failing", "warn-now-passing", "waived-passing", "waived-failing"],
)
def test_rejudge_respects_caller_statuses(status, new_bound, expected):
    result = dataclasses.replace(_result(0.5, Threshold(0.1, "max")), status=status)

    assert result.rejudge(Threshold(new_bound, "max")).status == expected


def test_rejudge_leaves_errors_unjudged():
    result = CheckResult.errored(
        check_id="patches.centers", stage="patches", artifact="centers",
        metric="max_error_px", reason="shape mismatch: reference (3, 2), candidate (3, 3)",
    )

    rejudged = result.rejudge(Threshold(1.0, "max"))

    assert rejudged.status == "error"
    assert rejudged.threshold == Threshold(1.0, "max")


def test_rejudge_rejects_non_numeric_observation():
    result = CheckResult.compared_equal(
        check_id="provenance.encoder_request", stage="image_features", artifact="encoder",
        metric="encoder", observed="uni", expected="uni2",
    )

    with pytest.raises(InputError, match="not numeric"):
        result.rejudge(Threshold(1.0, "max"))


def test_evidence_capped_with_true_total():
    rows = [{"key": f"BARCODE-{index}", "error_px": float(index)} for index in range(250)]

    result = _result(3.0, Threshold(1.0, "max"), evidence=rows)

    assert len(result.evidence) == MAX_EVIDENCE_ROWS
    assert result.n_offending == 250
    assert result.evidence[0]["key"] == "BARCODE-0"
    assert result.report().endswith(f"showing {MAX_EVIDENCE_ROWS} of 250 offending rows")


def test_evidence_total_kept_when_caller_truncated():
    rows = [{"key": "A", "error_px": 2.0}]

    result = _result(3.0, Threshold(1.0, "max"), evidence=rows, n_offending=3611)

    assert result.n_offending == 3611


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"status": "passed"}, "status"),
        ({"evidence": tuple({"key": i} for i in range(101))}, "at most 100"),
        ({"evidence": ({"key": "A"}, {"key": "B"}), "n_offending": 1}, "n_offending"),
    ],
    ids=["unknown-status", "too-many-rows", "total-below-rows"],
)
def test_constructor_rejects_inconsistent_fields(changes, match):
    fields = {
        "check_id": "x", "stage": "s", "artifact": "a", "metric": "m", "observed": 1.0,
        "threshold": None, "status": "pass", "description": "PASS x",
    }
    with pytest.raises(InputError, match=match):
        CheckResult(**{**fields, **changes})


def test_evidence_row_without_key_rejected():
    with pytest.raises(InputError, match="has no 'key'"):
        _result(1.0, Threshold(0.0, "max"), evidence=[{"error_px": 1.0}])


@pytest.mark.parametrize(
    "observed", [0.25, 7, math.nan, math.inf, -math.inf], ids=["float", "int", "nan", "inf", "-inf"]
)
def test_json_round_trip_preserves_result(observed):
    result = _result(
        observed,
        Threshold(-math.inf, "min", unit="px", source="user"),
        context="context text",
        evidence=[{"key": "AAAC-1", "error_px": math.nan}],
        details={"shape": (3, 2), "stats": {"max": math.inf}},
    )

    text = json.dumps(result.to_json(), allow_nan=False)
    restored = CheckResult.from_json(json.loads(text))

    assert restored.to_json() == result.to_json()
    assert restored.status == result.status
    if isinstance(observed, float) and math.isnan(observed):
        assert math.isnan(restored.observed)
    else:
        assert restored.observed == observed


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": "something.else"}, "format"),
        ({"version": 99}, "version 99"),
    ],
    ids=["wrong-format", "future-version"],
)
def test_from_json_rejects_foreign_documents(changes, match):
    data = {**_result(1.0, Threshold(0.0, "max")).to_json(), **changes}

    with pytest.raises(InputError, match=match):
        CheckResult.from_json(data)


def test_from_json_names_missing_keys():
    with pytest.raises(InputError, match="lacks"):
        CheckResult.from_json({"check_id": "x"})


def test_results_are_frozen():
    result = _result(1.0, Threshold(0.0, "max"))

    with pytest.raises(AttributeError):
        result.status = "pass"
