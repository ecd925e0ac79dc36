"""The run folder: atomic writes, digest verification, cache reuse and recomputation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.artifacts import io as artifact_io
from harness.artifacts.store import RunStore
from harness.errors import CorruptArtifactError


def _sample_artifacts(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "barcodes": np.array([f"AAAC{i:04d}-1" for i in range(12)]),
        "spatial": rng.normal(size=(12, 2)),
        "counts": sp.random(12, 30, density=0.2, format="csr", random_state=seed),
        "config": {"k": 5, "tau": 35.0, "note": "x"},
    }


def test_write_then_read_roundtrip(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    written = _sample_artifacts()
    store.write_stage("load", written, provenance={"cache_key": "abc"})

    record = store.open_stage("load")
    loaded = record.load_all()

    assert record.cache_key == "abc"
    np.testing.assert_array_equal(loaded["barcodes"], written["barcodes"])
    np.testing.assert_array_equal(loaded["spatial"], written["spatial"])
    assert (loaded["counts"] != written["counts"]).nnz == 0
    assert loaded["config"] == written["config"]


def test_same_value_same_digest(tmp_path: Path) -> None:
    first = RunStore(tmp_path / "a").write_stage("load", _sample_artifacts())
    second = RunStore(tmp_path / "b").write_stage("load", _sample_artifacts())

    assert first.digests()["load/counts"].split("/")[-1] == second.digests()["load/counts"].split("/")[-1]
    assert {k.split("/")[1]: v for k, v in first.digests().items()} == {
        k.split("/")[1]: v for k, v in second.digests().items()
    }


def test_run_manifest_lists_stage(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.write_stage("load", _sample_artifacts(), provenance={"side": "reference"})

    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())

    entry = manifest["stages"]["load"]
    assert entry["artifacts"]["spatial"]["file"] == "load/spatial.npy"
    assert entry["artifacts"]["spatial"]["shape"] == [12, 2]
    assert entry["artifacts"]["spatial"]["dtype"] == "float64"
    assert len(entry["artifacts"]["spatial"]["sha256"]) == 64


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-7]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-8] + b"\x00" * 8), id="flipped-bytes"),
        pytest.param(lambda p: p.unlink(), id="deleted"),
    ],
)
def test_damaged_artifact_is_rejected(tmp_path: Path, damage) -> None:
    store = RunStore(tmp_path / "run")
    store.write_stage("load", _sample_artifacts())
    damage(tmp_path / "run" / "load" / "spatial.npy")

    with pytest.raises(CorruptArtifactError, match="spatial"):
        store.open_stage("load")
    assert store.read_stage("load") is None


def test_manifest_path_outside_folder_rejected(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.write_stage("load", _sample_artifacts())
    manifest_path = tmp_path / "run" / "load" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"]["spatial"]["file"] = "../../outside.npy"
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(CorruptArtifactError, match="outside its folder"):
        store.open_stage("load", verify=False)


def test_object_arrays_are_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)

    with pytest.raises(CorruptArtifactError, match="object arrays are rejected"):
        artifact_io.read_artifact(path, "array")


def test_rewrite_replaces_previous_stage(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.write_stage("load", _sample_artifacts(seed=0))
    store.write_stage("load", _sample_artifacts(seed=1))

    record = store.open_stage("load")

    np.testing.assert_array_equal(record.load("spatial"), _sample_artifacts(seed=1)["spatial"])
    leftovers = [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]
    assert leftovers == []


class _Interrupted(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fail_after=st.integers(min_value=0, max_value=40),
    previous=st.booleans(),
)
def test_interrupted_write_never_looks_complete(tmp_path_factory, fail_after: int, previous: bool) -> None:
    """A crash at any write leaves either the previous complete stage or none."""
    root = tmp_path_factory.mktemp("run")
    store = RunStore(root)
    if previous:
        store.write_stage("load", _sample_artifacts(seed=7))

    calls = {"n": 0}
    real_write = artifact_io.np.lib.format.write_array
    real_text = Path.write_text

    def counting_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > fail_after:
            raise _Interrupted
        return real_write(*args, **kwargs)

    def counting_text(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > fail_after:
            # Simulate a crash half-way through the file.
            real_text(self, args[0][: len(args[0]) // 2], **kwargs)
            raise _Interrupted
        return real_text(self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(artifact_io.np.lib.format, "write_array", counting_write)
    patch.setattr(Path, "write_text", counting_text)
    try:
        store.write_stage("load", _sample_artifacts(seed=3))
        completed = True
    except _Interrupted:
        completed = False
    finally:
        patch.undo()

    record = store.read_stage("load")
    if completed:
        np.testing.assert_array_equal(record.load("spatial"), _sample_artifacts(seed=3)["spatial"])
    elif previous:
        assert record is not None
        np.testing.assert_array_equal(record.load("spatial"), _sample_artifacts(seed=7)["spatial"])
    else:
        assert record is None
    partials = [p for p in root.iterdir() if ".partial-" in p.name]
    assert partials == []
