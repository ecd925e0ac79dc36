"""The runner: cache reuse, recomputation of corrupted or stale stages, contract checks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.config import RunConfig
from harness.errors import ContractError, InputError
from harness.implementation import StagewiseImplementation
from harness.runner import run_side


class _TinyPipeline(StagewiseImplementation):
    """Computes load and graph on a 4-spot line; counts how often each stage ran."""

    name = "tiny"

    def __init__(self, *, k: int = 1, bad_graph: bool = False) -> None:
        self.k = k
        self.bad_graph = bad_graph
        self.calls: dict[str, int] = {}

    def stage_load(self, inputs, context):
        self.calls["load"] = self.calls.get("load", 0) + 1
        return {
            "barcodes": np.array(["A-1", "B-1", "C-1", "D-1"]),
            "spatial": np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]),
            "genes": np.array(["g1", "g2"]),
            "counts": sp.csr_matrix(np.ones((4, 2))),
            "scalefactors": {"tissue_hires_scalef": 0.15},
            "config": {},
        }

    def stage_graph(self, inputs, context):
        self.calls["graph"] = self.calls.get("graph", 0) + 1
        n = len(inputs["load/spatial"])
        if self.bad_graph:
            return {"edges": np.zeros((3, 2), dtype=np.int64), "config": {}}
        source = np.arange(n - 1)
        edges = np.concatenate([np.stack([source, source + 1]), np.stack([source + 1, source])], axis=1)
        order = np.lexsort((edges[1], edges[0]))
        return {"edges": edges[:, order], "config": {"num_neigh": self.k}}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "slice"
    folder.mkdir()
    (folder / "marker.txt").write_text("v1")
    return folder


def _run(pipeline, out: Path, data_dir: Path, config: RunConfig | None = None):
    return run_side(
        pipeline,
        side="reference",
        out_dir=out,
        config=config or RunConfig(device="cpu"),
        stages=["load", "graph"],
        data_dir=data_dir,
    )


def test_second_run_reuses_cache(tmp_path: Path, data_dir: Path) -> None:
    pipeline = _TinyPipeline()
    first = _run(pipeline, tmp_path / "run", data_dir)
    second = _run(pipeline, tmp_path / "run", data_dir)

    assert first.computed == ["load", "graph"]
    assert second.reused == ["load", "graph"]
    assert second.computed == []
    assert pipeline.calls == {"load": 1, "graph": 1}


def test_corrupted_stage_is_recomputed(tmp_path: Path, data_dir: Path, caplog) -> None:
    pipeline = _TinyPipeline()
    _run(pipeline, tmp_path / "run", data_dir)
    edges_file = tmp_path / "run" / "graph" / "edges.npy"
    edges_file.write_bytes(edges_file.read_bytes()[:-4])

    with caplog.at_level(logging.WARNING, logger="harness"):
        second = _run(pipeline, tmp_path / "run", data_dir)

    assert second.reused == ["load"]
    assert second.computed == ["graph"]
    assert pipeline.calls["graph"] == 2
    assert "corrupt" in caplog.text
    assert "edges" in caplog.text


def test_unverified_reuse_trusts_the_manifest(tmp_path: Path, data_dir: Path) -> None:
    pipeline = _TinyPipeline()
    _run(pipeline, tmp_path / "run", data_dir)
    edges_file = tmp_path / "run" / "graph" / "edges.npy"
    edges_file.write_bytes(edges_file.read_bytes()[:-4])

    trusted = run_side(
        pipeline, side="reference", out_dir=tmp_path / "run", config=RunConfig(device="cpu"),
        stages=["load", "graph"], data_dir=data_dir, verify=False,
    )
    assert trusted.reused == ["load", "graph"]
    assert pipeline.calls["graph"] == 1
    assert _run(pipeline, tmp_path / "run", data_dir).computed == ["graph"]


def test_changed_data_invalidates_load(tmp_path: Path, data_dir: Path) -> None:
    pipeline = _TinyPipeline()
    _run(pipeline, tmp_path / "run", data_dir)
    (data_dir / "marker.txt").write_text("v2")

    second = _run(pipeline, tmp_path / "run", data_dir)

    assert second.computed == ["load", "graph"] or second.computed == ["load"]
    assert pipeline.calls["load"] == 2


def test_changed_config_invalidates_cache(tmp_path: Path, data_dir: Path) -> None:
    pipeline = _TinyPipeline()
    _run(pipeline, tmp_path / "run", data_dir)
    second = _run(pipeline, tmp_path / "run", data_dir, RunConfig(device="cpu", seed=5))

    assert second.computed == ["load", "graph"]


def test_manifest_records_provenance(tmp_path: Path, data_dir: Path) -> None:
    result = _run(_TinyPipeline(), tmp_path / "run", data_dir)

    manifest = result.records["graph"].manifest
    assert manifest["inputs"].keys() == {"load/spatial"}
    assert manifest["device"] == "cpu"
    assert manifest["packages"]["numpy"] == np.__version__
    assert manifest["resources"]["wall_s"] >= 0
    assert manifest["resources"]["peak_rss_bytes"] > 0
    assert len(manifest["run_config_sha256"]) == 64
    assert "commit" in manifest["git"]


def test_contract_violation_raises_and_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ContractError, match="graph/edges"):
        _run(_TinyPipeline(bad_graph=True), tmp_path / "run", data_dir)

    assert not (tmp_path / "run" / "graph").exists()


def test_missing_upstream_stage_is_named(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(InputError, match="reads 'load/spatial'"):
        run_side(
            _TinyPipeline(),
            side="reference",
            out_dir=tmp_path / "run",
            config=RunConfig(device="cpu"),
            stages=["graph"],
            data_dir=data_dir,
        )
