"""DiffReport: derived fields, validation, report.json round trip and files."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.artifacts.store import RunStore
from harness.compare.result import CheckResult, Threshold
from harness.errors import InputError, MissingFileError
from harness.report import DiffReport, SideInfo
from harness.report.model import REPORT_FORMAT, check_from_json, check_to_json, stage_order
from harness.runner import SideRun
from tests.report._samples import sample_attribution, sample_checks, sample_report


def _judged(
    check_id: str, *, stage: str, observed: float, status: str | None = None
) -> CheckResult:
    check = CheckResult.judged(
        check_id=check_id, stage=stage, artifact="x", metric="max_abs_diff",
        observed=observed, threshold=Threshold(1.0, "max"),
    )
    return replace(check, status=status) if status else check


def test_first_divergence_follows_pipeline_order() -> None:
    checks = [
        _judged("metrics.ari", stage="metrics", observed=5.0),
        _judged("graph.edges", stage="graph", observed=5.0),
        _judged("load.spatial", stage="load", observed=0.0),
    ]

    report = sample_report(checks=checks)

    assert report.first_divergent_stage == "graph"


def test_first_divergence_counts_error_not_warn() -> None:
    checks = [
        _judged("patches.centers", stage="patches", observed=5.0, status="warn"),
        _judged("genes.hvg", stage="genes", observed=5.0, status="waived"),
        CheckResult.skipped(check_id="graph.edges", stage="graph", artifact="edges",
                            metric="jaccard", reason="absent"),
        CheckResult.errored(check_id="train.embedding", stage="train", artifact="emb",
                            metric="linear_cka", reason="shape mismatch"),
    ]

    report = sample_report(checks=checks)

    assert report.first_divergent_stage == "train"


def test_first_divergence_none_when_all_pass() -> None:
    report = sample_report(checks=[_judged("graph.edges", stage="graph", observed=0.0)])

    assert report.first_divergent_stage is None
    assert report.exit_code == 0


def test_stage_outside_pipeline_sorts_last() -> None:
    assert stage_order(["config", "metrics", "load", "config"]) == ["load", "metrics", "config"]

    checks = [
        _judged("config.hyperparameters", stage="config", observed=5.0),
        _judged("refine.agreement", stage="refine", observed=5.0),
    ]
    assert sample_report(checks=checks).first_divergent_stage == "refine"


def test_summary_counts_every_status() -> None:
    summary = sample_report().summary

    assert summary == {
        "pass": 2, "fail": 3, "warn": 1, "waived": 1, "skip": 1, "error": 1, "total": 9,
    }


def test_json_roundtrip_keeps_everything(tmp_path: Path) -> None:
    report = sample_report(attribution=sample_attribution(),
                           figures_data={"reference": tmp_path / "ref"})

    data = json.loads(report.to_json_text())
    again = DiffReport.from_json(data)

    assert again.to_json() == report.to_json()
    assert again.checks == report.checks
    assert again.figures_data == {"reference": tmp_path / "ref"}
    assert again.attribution == report.attribution


def test_json_publishes_check_fields_flat() -> None:
    entry = check_to_json(sample_checks()[5])

    assert entry["id"] == "patches.centers"
    assert "check_id" not in entry
    assert entry["threshold"] == 0.5
    assert entry["unit"] == "px"
    assert entry["direction"] == "max"
    assert entry["threshold_source"] == "default"
    assert entry["status"] == "fail"
    assert entry["n_offending"] == 3611
    assert len(entry["evidence"]) == 100


def test_json_top_level_fields() -> None:
    data = sample_report().to_json()

    assert data["format"] == REPORT_FORMAT
    assert data["format_version"] == 1
    assert data["first_divergent_stage"] == "patches"
    assert data["exit_code"] == 1
    assert data["summary"]["fail"] == 3
    assert data["stages_compared"] == [
        "patches", "image_features", "genes", "graph", "train", "metrics",
    ]
    assert data["sides"]["candidate"]["stages_not_provided"] == ["cluster"]
    assert data["tolerances"]["graph.edges"] == {
        "value": 0.99, "direction": "min", "unit": "", "source": "default",
    }


def _reject_constant(name: str) -> float:
    raise AssertionError(f"report.json contains the non-standard constant {name}")


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(observed=finite_or_not, bound=st.floats(allow_nan=False, allow_infinity=True))
def test_nonfinite_values_roundtrip_strict_json(observed: float, bound: float) -> None:
    check = CheckResult.judged(
        check_id="train.embedding", stage="train", artifact="emb", metric="linear_cka",
        observed=observed, threshold=Threshold(bound, "min"), details={"spread": observed},
    )
    report = sample_report(checks=[check])

    text = report.to_json_text()
    again = DiffReport.from_json(json.loads(text, parse_constant=_reject_constant))

    result = again.checks[0]
    assert result.status == check.status
    assert result.threshold == check.threshold
    if math.isnan(observed):
        assert math.isnan(result.observed)
        assert math.isnan(result.details["spread"])
    else:
        assert result.observed == observed
        assert result.details["spread"] == observed


def test_save_then_load_from_folder(tmp_path: Path) -> None:
    report = sample_report()

    path = report.save(tmp_path / "out")

    assert path == tmp_path / "out" / "report.json"
    assert DiffReport.load(tmp_path / "out").to_json() == report.to_json()
    assert DiffReport.load(path).to_json() == report.to_json()


def test_load_missing_report_names_path(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="no report found at .*report.json"):
        DiffReport.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "`format` is 'something-else'"),
        ({"format_version": 99}, "format version 99 is not supported"),
    ],
    ids=["wrong-format", "future-version"],
)
def test_load_rejects_foreign_json(tmp_path: Path, change: dict, message: str) -> None:
    data = {**sample_report().to_json(), **change}
    (tmp_path / "report.json").write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(InputError, match=message):
        DiffReport.load(tmp_path)


def test_load_rejects_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(InputError, match="is not valid JSON"):
        DiffReport.load(tmp_path)


def test_check_without_id_rejected() -> None:
    entry = check_to_json(sample_checks()[0])
    del entry["id"]

    with pytest.raises(InputError, match=r"check JSON lacks \['id'\]"):
        check_from_json(entry)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sides": {"reference": SideInfo({})}}, "`sides` has keys"),
        ({"stages_compared": ["patches", "colour"]}, "unknown stages \\['colour'\\]"),
        ({"checks": [{"id": "x"}]}, "expected CheckResult objects"),
        ({"created_at": "yesterday"}, "`created_at` is 'yesterday'"),
        ({"figures_data": {"theirs": "/x"}}, "`figures_data` has keys \\['theirs'\\]"),
        ({"sides": {"reference": {}, "candidate": {}}}, "expected a SideInfo"),
        ({"data": {"path": "/x"}}, "`data` is a dict; expected a DataInfo"),
    ],
    ids=[
        "missing-side", "unknown-stage", "raw-dict-check", "bad-time", "unknown-side",
        "raw-dict-side", "raw-dict-data",
    ],
)
def test_invalid_fields_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        sample_report(**overrides)


def test_tolerances_default_from_checks() -> None:
    report = sample_report()

    assert report.tolerances["patches.centers"] == Threshold(0.5, "max", unit="px")
    assert "image_features.encoder" not in report.tolerances
    assert "cluster.backend" not in report.tolerances


def test_tolerances_include_a_bound_applied_inside_a_check() -> None:
    overlap = Threshold(0.134, "min", source="calibration")
    check = CheckResult.judged(
        check_id="train.embedding", stage="train", artifact="emb", metric="cka",
        observed=0.95, threshold=Threshold(0.9, "min"),
        details={"knn_overlap": {"observed": 0.2, "threshold": overlap.to_json()}},
    )
    report = sample_report(checks=[check])

    assert report.tolerances["train.embedding"] == Threshold(0.9, "min")
    assert report.tolerances["train.embedding:knn_overlap"] == overlap
    assert "train.embedding:knn_overlap" in report.to_json()["tolerances"]


def test_side_info_from_side_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "candidate")
    store.write_run_fields({"implementation": {"name": "staig-fusion", "version": "0.3"}})
    run = SideRun(side="candidate", store=store, computed=["load"], reused=["patches"],
                  not_provided=["cluster"])

    side = SideInfo.from_side_run(run, preset="quick", device="cpu")

    assert side.implementation == {"name": "staig-fusion", "version": "0.3"}
    assert side.run_folder == str(tmp_path / "candidate")
    assert side.stages_computed == ("load",)
    assert side.stages_reused == ("patches",)
    assert side.stages_not_provided == ("cluster",)
    assert side.label == "staig-fusion 0.3"


def test_created_at_defaults_to_utc_now() -> None:
    report = sample_report()
    fields = {key: value for key, value in vars(report).items() if key != "created_at"}

    fresh = DiffReport(**fields)

    assert fresh.created_at.endswith("+00:00")
