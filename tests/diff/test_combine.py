"""Waivers and isolation: how chained and isolated checks combine into verdicts."""

from __future__ import annotations

from harness.compare.result import CheckResult, Threshold
from harness.diff.engine import _combine
from harness.diff.waivers import Waiver, find_waiver, parse_waiver

import pytest

from harness.errors import InputError


def _check(check_id: str, stage: str, observed: float, *, minimum: float = 0.9) -> CheckResult:
    return CheckResult.judged(
        check_id=check_id, stage=stage, artifact="x", metric="cka",
        observed=observed, threshold=Threshold(minimum, "min"),
    )


def test_waived_check_is_waived_with_reason() -> None:
    waiver = Waiver("image_features.features", "UNI replaces BYOL on purpose", "candidate")
    chained = [_check("image_features.features", "image_features", 0.2)]

    combined = _combine(chained, [], [waiver], {"image_features"})

    assert combined[0].status == "waived"
    assert "UNI replaces BYOL on purpose" in combined[0].diagnosis
    assert combined[0].details["waiver"]["source"] == "candidate"


def test_downstream_of_waived_stage_passing_alone_is_waived() -> None:
    chained = [
        _check("image_features.features", "image_features", 0.2),
        _check("train.embedding", "train", 0.3),
    ]
    isolated = [_check("train.embedding", "train", 0.99)]
    waiver = Waiver("image_features.features", "intended", "candidate")

    combined = {c.check_id: c for c in _combine(chained, isolated, [waiver], {"image_features"})}

    assert combined["train.embedding"].status == "waived"
    assert "inherited from image_features (waived)" in combined["train.embedding"].diagnosis
    assert combined["train.embedding"].details["inherited_from"] == "image_features"


def test_downstream_failing_alone_still_fails() -> None:
    chained = [
        _check("image_features.features", "image_features", 0.2),
        _check("train.embedding", "train", 0.3),
    ]
    isolated = [_check("train.embedding", "train", 0.4)]
    waiver = Waiver("image_features.features", "intended", "candidate")

    combined = {c.check_id: c for c in _combine(chained, isolated, [waiver], {"image_features"})}

    assert combined["train.embedding"].status == "fail"
    assert "own divergence" in combined["train.embedding"].diagnosis
    assert combined["train.embedding"].details["origin"] == "own"


def test_inherited_unwaived_failure_stays_failing() -> None:
    chained = [_check("genes.matrix", "genes", 0.1), _check("train.embedding", "train", 0.3)]
    isolated = [_check("train.embedding", "train", 0.99)]

    combined = {c.check_id: c for c in _combine(chained, isolated, [], set())}

    assert combined["train.embedding"].status == "fail"
    assert "inherited from genes" in combined["train.embedding"].diagnosis


def test_passing_checks_are_unchanged() -> None:
    chained = [_check("graph.edges", "graph", 1.0)]

    combined = _combine(chained, [], [], set())

    assert combined[0].status == "pass"
    assert combined[0].diagnosis == ""


def test_waiver_pattern_matches_stage_prefix() -> None:
    waiver = Waiver("image_features.*", "intended")

    assert waiver.matches("image_features.features")
    assert not waiver.matches("image_embedding.img_emb")
    assert find_waiver([waiver], "patches.centers") is None


@pytest.mark.parametrize("text", ["image_features.features", "=reason", "check="])
def test_malformed_waiver_option_rejected(text: str) -> None:
    with pytest.raises(InputError, match="expected CHECK=REASON"):
        parse_waiver(text)
