"""calibrate and attribute end to end through submitit's local executor on a small slice."""

from __future__ import annotations

import json
import math

import pytest

from harness.attribute.command import attribute
from harness.calibrate.command import calibrate
from harness.calibrate.spread import MEASURES
from harness.config import RunConfig
from harness.diff.command import calibration_path
from harness.matrix.executor import ExecutorSettings
from harness.synth import write_synthetic_slice

pytestmark = [pytest.mark.slow, pytest.mark.needs_r]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    # The legacy candidate requests 300 image pseudo-label clusters, so it needs 300 spots.
    data = write_synthetic_slice(root / "slice", n_spots=320, seed=5, n_genes=3200)
    return root, data


def executor(root, name):
    return ExecutorSettings(kind="local", jobs_dir=root / "jobs" / name, timeout_min=30)


def test_calibration_then_attribution(workspace):
    root, data = workspace
    cache = root / "cache"
    config = RunConfig(preset="quick", device="cpu", allow_random_init=True)

    [calibrated] = calibrate(
        data_dirs=[data], config=config, seeds=[0, 1], cache_dir=cache,
        executor=executor(root, "calibrate"),
    )
    assert calibrated.failures == []
    assert calibrated.path == calibration_path(cache, data, "quick")
    stored = json.loads(calibrated.path.read_text(encoding="utf-8"))
    assert stored["seeds"] == [0, 1]
    assert set(stored["thresholds"]) == set(MEASURES)
    for key, threshold in stored["thresholds"].items():
        [pair] = stored["spread"][key]["pairs"]
        assert pair["seeds"] == [0, 1]
        if key == "metrics.ari:ari_gap":
            assert threshold == pytest.approx(pair["value"] + 0.05)
        else:
            assert threshold == pytest.approx(max(0.0, pair["value"] - 0.05))

    outcome = attribute(
        data_dir=data, candidate="legacy", config=config, seeds=[0, 1], cache_dir=cache,
        executor=executor(root, "attribute"), out_dir=root / "report",
        candidate_options={"simulate_no_r": True}, stages=["cluster"],
    )
    assert outcome.failures == []
    assert sorted((row.factor, row.direction) for row in outcome.rows) == [
        ("cluster", "break"), ("cluster", "fix"),
    ]
    for row in outcome.rows:
        assert row.n_runs == 2
        assert math.isfinite(row.mean_delta_ari)
        assert row.ci_low <= row.mean_delta_ari <= row.ci_high
    per_seed = outcome.document["per_seed"]["fix:cluster"]
    assert [entry["seed"] for entry in per_seed] == [0, 1]
    for entry in per_seed:
        assert entry["delta_ari"] == pytest.approx(entry["ari_hybrid"] - entry["ari_base"])
    # The candidate's own seed runs are the baseline of the fix rows.
    baseline = outcome.document["baseline"]["candidate"]
    assert [entry["ari_base"] for entry in per_seed] == [baseline["0"], baseline["1"]]

    report = json.loads((root / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["calibration"] == str(calibrated.path)
    sources = {check["id"]: check["threshold_source"] for check in report["checks"]}
    assert sources["train.embedding"] == "calibration"
    assert report["attribution"][0]["direction"] == "fix"
    html = (root / "report" / "report.html").read_text(encoding="utf-8")
    assert 'alt="Change in final ARI per swapped stage"' in html
