"""Artifact folders written by another pipeline, used as a candidate side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.artifacts.folder import ArtifactFolderSide, write_artifact_folder
from harness.config import RunConfig
from harness.errors import ContractError, InputError
from harness.runner import run_side


def _minimal_folder(root: Path) -> Path:
    """Write a hand-made folder with load and graph only, as a user's pipeline would."""
    (root / "load").mkdir(parents=True)
    (root / "graph").mkdir()
    np.save(root / "load" / "barcodes.npy", np.array(["AAAC-1", "AAAG-1", "AAAT-1"]))
    np.save(root / "load" / "spatial.npy", np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    edges = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], dtype=np.int64)
    np.save(root / "graph" / "edges.npy", edges)
    (root / "graph" / "config.json").write_text(json.dumps({"num_neigh": 1}))
    manifest = {
        "format": "staig-harness-artifacts",
        "format_version": 1,
        "side": "my-pipeline",
        "stages": {
            "load": {"artifacts": {
                "barcodes": {"file": "load/barcodes.npy"},
                "spatial": {"file": "load/spatial.npy"},
            }},
            "graph": {"artifacts": {
                "edges": {"file": "graph/edges.npy", "kind": "array"},
                "config": {"file": "graph/config.json"},
            }},
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_folder_side_provides_present_stages(tmp_path: Path) -> None:
    side = ArtifactFolderSide(_minimal_folder(tmp_path / "dump"))

    assert side.provided_stages() == ["load", "graph"]


def test_hand_written_folder_runs_as_candidate(tmp_path: Path) -> None:
    side = ArtifactFolderSide(_minimal_folder(tmp_path / "dump"))

    result = run_side(
        side,
        side="candidate",
        out_dir=tmp_path / "run",
        config=RunConfig(device="cpu"),
        stages=["load", "graph", "edge_probabilities"],
        data_dir=None,
    )

    assert result.computed == ["load", "graph"]
    assert result.not_provided == ["edge_probabilities"]
    edges = result.records["graph"].load("edges")
    assert edges.shape == (2, 4)


def test_folder_without_barcodes_rejected(tmp_path: Path) -> None:
    root = _minimal_folder(tmp_path / "dump")
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["stages"]["load"]["artifacts"]["barcodes"]
    (root / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(InputError, match="no load/barcodes"):
        ArtifactFolderSide(root)


def test_path_leaving_folder_rejected(tmp_path: Path) -> None:
    root = _minimal_folder(tmp_path / "dump")
    (tmp_path / "secret.npy").write_bytes(b"x")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["stages"]["graph"]["artifacts"]["edges"]["file"] = "../secret.npy"
    (root / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(InputError, match="outside the artifact folder"):
        ArtifactFolderSide(root).run_stage("graph", {}, None)


def test_pickled_array_rejected(tmp_path: Path) -> None:
    root = _minimal_folder(tmp_path / "dump")
    np.save(root / "graph" / "edges.npy", np.array([object()], dtype=object), allow_pickle=True)

    with pytest.raises(Exception, match="object arrays are rejected"):
        ArtifactFolderSide(root).run_stage("graph", {}, None)


def test_wrong_shape_rejected_by_contract(tmp_path: Path) -> None:
    root = _minimal_folder(tmp_path / "dump")
    np.save(root / "graph" / "edges.npy", np.zeros((3, 4), dtype=np.int64))

    with pytest.raises(ContractError, match="graph/edges"):
        run_side(
            ArtifactFolderSide(root), side="candidate", out_dir=tmp_path / "run",
            config=RunConfig(device="cpu"), stages=["load", "graph"], data_dir=None,
        )


def test_digest_mismatch_rejected(tmp_path: Path) -> None:
    root = write_artifact_folder(
        tmp_path / "dump",
        {
            "load": {"barcodes": np.array(["A-1", "B-1"])},
            "graph": {"edges": np.array([[0, 1], [1, 0]], dtype=np.int64)},
        },
    )
    np.save(root / "graph" / "edges.npy", np.array([[0, 2], [2, 0]], dtype=np.int64))

    with pytest.raises(Exception, match="SHA-256"):
        ArtifactFolderSide(root).run_stage("graph", {}, None)


def test_unknown_stage_in_manifest_rejected(tmp_path: Path) -> None:
    root = _minimal_folder(tmp_path / "dump")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["stages"]["clustering"] = {"artifacts": {}}
    (root / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(InputError, match="unknown stages \\['clustering'\\]"):
        ArtifactFolderSide(root)


def test_missing_manifest_named(tmp_path: Path) -> None:
    (tmp_path / "dump").mkdir()

    with pytest.raises(InputError, match="has no manifest.json"):
        ArtifactFolderSide(tmp_path / "dump")
