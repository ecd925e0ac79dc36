"""The stage contract: stage order, dependencies and output validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.contract.stages import (
    STAGE_NAMES,
    downstream_of,
    get_stage,
    stages_until,
    upstream_closure,
)
from harness.contract.validate import validate_outputs
from harness.errors import ContractError


def test_stage_order_is_the_pipeline_order() -> None:
    assert STAGE_NAMES == (
        "load", "patches", "patch_filter", "image_features", "image_embedding", "genes",
        "graph", "edge_probabilities", "pseudo_labels", "train", "cluster", "refine", "metrics",
    )


def test_every_read_names_an_earlier_artifact() -> None:
    seen: set[str] = set()
    for name in STAGE_NAMES:
        spec = get_stage(name)
        for read in spec.reads:
            assert read in seen, f"{name} reads {read} before it is written"
        seen.update(f"{name}/{artifact.name}" for artifact in spec.writes)


def test_every_stage_writes_config() -> None:
    for name in STAGE_NAMES:
        assert "config" in get_stage(name).artifact_names()


def test_upstream_closure_of_patches() -> None:
    assert [s.name for s in upstream_closure("patches")] == ["load", "patches"]


def test_upstream_closure_of_train() -> None:
    names = [s.name for s in upstream_closure("train")]
    assert names == [
        "load", "patches", "patch_filter", "image_features", "image_embedding", "genes",
        "graph", "edge_probabilities", "pseudo_labels", "train",
    ]


def test_downstream_of_genes() -> None:
    assert [s.name for s in downstream_of("genes")] == ["train", "cluster", "refine", "metrics"]


def test_stages_until_unknown_stage_lists_valid() -> None:
    with pytest.raises(KeyError, match="valid stages, in order: load, patches"):
        stages_until("clustering")


def _graph_outputs(edges) -> dict:
    return {"edges": edges, "config": {}}


def test_valid_outputs_bind_dimensions() -> None:
    dims: dict[str, int] = {}
    validate_outputs(get_stage("graph"), _graph_outputs(np.zeros((2, 10), dtype=np.int64)), dims)

    assert dims == {"E": 10}


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        pytest.param(np.zeros((3, 10), dtype=np.int64), "axis 0 must have size 2", id="wrong-fixed-axis"),
        pytest.param(np.zeros(10, dtype=np.int64), "expected 2 dimensions", id="wrong-rank"),
        pytest.param(np.zeros((2, 10), dtype=np.float64), "dtype float64 is not one of", id="wrong-dtype"),
        pytest.param(np.zeros((2, 10), dtype=object), "cannot be stored", id="object-array"),
    ],
)
def test_invalid_graph_outputs_rejected(edges, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        validate_outputs(get_stage("graph"), _graph_outputs(edges), {})


def test_inconsistent_spot_count_rejected() -> None:
    dims = {"N": 5}
    outputs = {"pseudo_labels": np.zeros(4, dtype=np.int64), "config": {}}

    with pytest.raises(ContractError, match="N = 5 earlier in this run"):
        validate_outputs(get_stage("pseudo_labels"), outputs, dims)


def test_missing_required_artifact_named() -> None:
    with pytest.raises(ContractError, match=r"did not return required artifacts \['edges'\]"):
        validate_outputs(get_stage("graph"), {"config": {}}, {})


def test_optional_labels_may_be_absent() -> None:
    outputs = {
        "barcodes": np.array(["A-1", "B-1"]),
        "spatial": np.zeros((2, 2)),
        "genes": np.array(["g1"]),
        "counts": sp.csr_matrix(np.ones((2, 1))),
        "scalefactors": {},
        "config": {},
    }
    dims: dict[str, int] = {}
    checked = validate_outputs(get_stage("load"), outputs, dims)

    assert dims == {"N": 2, "G": 1}
    assert checked["barcodes"].dtype.kind == "U"


def test_bytes_strings_become_unicode() -> None:
    outputs = {"hvg": np.array([b"g1", b"g2"]), "feat": np.zeros((3, 2)), "config": {}}
    checked = validate_outputs(get_stage("genes"), outputs, {})

    assert checked["hvg"].dtype.kind == "U"
    assert list(checked["hvg"]) == ["g1", "g2"]
