"""graph.edges and edge_probabilities.values on planted divergences and real spot positions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.positions import find_positions_file, read_tissue_positions
from harness.diagnose import edge_probabilities, graph
from reference.stages.graph import knn_graph_edges

from ._fixtures_graph import (
    barcodes,
    graph_stage,
    hex_grid,
    knn_edges,
    load_stage,
    make_context,
)

TIE_PHRASE = (
    "the graphs differ only in which of several equidistant neighbours were chosen ({n} edges); "
    "STAIG's unstable argsort makes this machine-dependent"
)

POINTS = hex_grid(12, 12)
NAMES = barcodes(POINTS.shape[0])
REFERENCE_EDGES = knn_edges(POINTS, k=5)


def judge_graph(tmp_path, candidate_edges, *, candidate_config=None, candidate_spatial=None,
                candidate_names=None, reference_config=None):
    reference = {
        "load": load_stage(NAMES, POINTS),
        "graph": graph_stage(REFERENCE_EDGES, **(reference_config or {"num_neigh": 5})),
    }
    candidate = {
        "load": load_stage(
            NAMES if candidate_names is None else candidate_names,
            POINTS if candidate_spatial is None else candidate_spatial,
        ),
        "graph": graph_stage(candidate_edges, **(candidate_config or {})),
    }
    context = make_context(tmp_path, reference, candidate)
    [result] = graph.check_edges(context, "chained")
    assert result.check_id == "graph.edges"
    assert result.stage == "graph"
    assert result.artifact == "edges"
    assert result.metric == "jaccard"
    return result


def test_identical_graphs_pass(tmp_path):
    result = judge_graph(tmp_path, REFERENCE_EDGES.copy(), candidate_config={"n_neighbours": 5})
    assert result.status == "pass"
    assert result.observed == 1.0
    assert result.diagnosis == ""


def test_tie_breaking_only_warns(tmp_path):
    rank = np.random.default_rng(1).permutation(POINTS.shape[0])
    candidate = knn_edges(POINTS, k=5, tie_rank=rank)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5})
    assert result.status == "warn"
    assert result.description.startswith("WARN graph.edges")
    n_differing = result.details["ties"]["n_differing_edges"]
    assert n_differing > 0
    assert result.diagnosis == TIE_PHRASE.format(n=n_differing)


def test_other_k_fails_naming_both(tmp_path):
    candidate = knn_edges(POINTS, k=3)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 3})
    assert result.status == "fail"
    assert "candidate chose 3 neighbours per spot, the reference 5 (num_neigh)" in result.diagnosis
    assert "as each side's graph config records" in result.diagnosis
    assert result.details["neighbours_per_spot"]["candidate"]["source"] == "config"


def test_other_k_inferred_without_config(tmp_path):
    candidate = knn_edges(POINTS, k=3)
    result = judge_graph(tmp_path, candidate, reference_config={"radius": 15})
    assert result.status == "fail"
    assert "candidate chose 3 neighbours per spot, the reference 5 (num_neigh)" in result.diagnosis
    assert "minimum out-degree" in result.diagnosis
    counts = result.details["neighbours_per_spot"]
    assert counts["reference"]["source"] == "minimum out-degree"
    assert counts["candidate"]["k"] == 3


def test_asymmetric_graph_fails(tmp_path):
    candidate = knn_edges(POINTS, k=5, symmetric=False)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5})
    assert result.status == "fail"
    assert "the candidate's graph is not symmetric" in result.diagnosis
    assert "either chose the other" in result.diagnosis
    assert "equidistant" not in result.diagnosis


def test_self_loops_are_named(tmp_path):
    loops = np.tile(np.arange(POINTS.shape[0]), (2, 1))
    candidate = np.concatenate([REFERENCE_EDGES, loops], axis=1)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5})
    assert result.status == "fail"
    assert f"{POINTS.shape[0]} self-loops" in result.diagnosis


def test_other_frame_fails(tmp_path):
    # Distances measured with a compressed y axis, as on array rows and columns.
    candidate = knn_edges(POINTS * np.array([1.0, 0.4]), k=5)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5})
    assert result.status == "fail"
    assert "neighbours are not the 5 nearest spots in full-resolution px" in result.diagnosis
    assert "another coordinate frame" in result.diagnosis


def test_other_coordinates_fail_upstream(tmp_path):
    shifted = POINTS * np.array([1.0, 0.4])
    candidate = knn_edges(shifted, k=5)
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5},
                         candidate_spatial=shifted)
    assert result.status == "fail"
    assert "its load/spatial differs from the reference's (see load.spatial)" in result.diagnosis


def test_reordered_candidate_joins_by_barcode(tmp_path):
    order = np.random.default_rng(3).permutation(POINTS.shape[0])
    inverse = np.argsort(order)
    # The candidate stores spot order[i] as its row i and builds the same graph.
    candidate = inverse[REFERENCE_EDGES]
    result = judge_graph(tmp_path, candidate, candidate_config={"n_neighbours": 5},
                         candidate_names=NAMES[order], candidate_spatial=POINTS[order])
    assert result.status == "pass"


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 6))
def test_any_tie_order_never_fails(tmp_path_factory, seed, k):
    rank = np.random.default_rng(seed).permutation(POINTS.shape[0])
    reference = {"load": load_stage(NAMES, POINTS),
                 "graph": graph_stage(knn_edges(POINTS, k=k), num_neigh=k)}
    candidate = {"load": load_stage(NAMES, POINTS),
                 "graph": graph_stage(knn_edges(POINTS, k=k, tie_rank=rank), n_neighbors=k)}
    context = make_context(tmp_path_factory.mktemp("ties"), reference, candidate)
    [result] = graph.check_edges(context, "chained")
    assert result.status in ("pass", "warn")


def test_real_spots_reversed_order(dlpfc_151673, tmp_path):
    table = read_tissue_positions(find_positions_file(dlpfc_151673))
    table = table[table["in_tissue"] == 1]
    spatial = table[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    names = table.index.to_numpy().astype(str)
    reference_edges, _ = knn_graph_edges(spatial, num_neigh=5)
    # The candidate lists the spots in reverse, so its index rule breaks ties the other way.
    candidate_edges, _ = knn_graph_edges(spatial[::-1], num_neigh=5)
    context = make_context(
        tmp_path,
        {"load": load_stage(names, spatial), "graph": graph_stage(reference_edges, num_neigh=5)},
        {"load": load_stage(names[::-1].copy(), spatial[::-1].copy()),
         "graph": graph_stage(candidate_edges, n_neighbours=5)},
    )
    [result] = graph.check_edges(context, "chained")
    # 151673 has spots whose 5th and 6th nearest neighbours are equally far.
    assert result.status == "warn"
    assert "equidistant neighbours were chosen" in result.diagnosis

    three, _ = knn_graph_edges(spatial, num_neigh=3)
    context = make_context(
        tmp_path / "k3",
        {"load": load_stage(names, spatial), "graph": graph_stage(reference_edges, num_neigh=5)},
        {"load": load_stage(names, spatial), "graph": graph_stage(three)},
    )
    [result] = graph.check_edges(context, "chained")
    assert result.status == "fail"
    assert "candidate chose 3 neighbours per spot, the reference 5 (num_neigh)" in result.diagnosis


# -- edge probabilities ---------------------------------------------------------------------


def staig_probabilities(edges, img_emb):
    return edge_probabilities.staig_edge_probabilities(edges, img_emb)


def probability_sides(candidate_edges, candidate_prob, *, img_emb, candidate_img_emb=None,
                      candidate_order=None):
    names = NAMES
    spatial = POINTS
    cand_names, cand_spatial, cand_emb = names, spatial, (
        img_emb if candidate_img_emb is None else candidate_img_emb
    )
    if candidate_order is not None:
        cand_names = names[candidate_order]
        cand_spatial = spatial[candidate_order]
        cand_emb = cand_emb[candidate_order]
    reference = {
        "load": load_stage(names, spatial),
        "image_embedding": {"img_emb": img_emb, "config": {}},
        "graph": graph_stage(REFERENCE_EDGES, num_neigh=5),
        "edge_probabilities": {
            "edge_prob": staig_probabilities(REFERENCE_EDGES, img_emb), "config": {}
        },
    }
    candidate = {
        "load": load_stage(cand_names, cand_spatial),
        "image_embedding": {"img_emb": cand_emb, "config": {}},
        "graph": graph_stage(candidate_edges, n_neighbours=5),
        "edge_probabilities": {"edge_prob": candidate_prob, "config": {}},
    }
    return reference, candidate


def judge_probabilities(tmp_path, reference, candidate):
    context = make_context(tmp_path, reference, candidate)
    [result] = edge_probabilities.check_values(context, "chained")
    assert result.check_id == "edge_probabilities.values"
    assert result.metric == "fraction_differing"
    return result


IMG_EMB = np.random.default_rng(5).normal(size=(POINTS.shape[0], 16))


def test_probabilities_match_in_any_edge_order(tmp_path):
    order = np.random.default_rng(8).permutation(POINTS.shape[0])
    inverse = np.argsort(order)
    edges = inverse[REFERENCE_EDGES]
    shuffle = np.random.default_rng(9).permutation(edges.shape[1])
    edges = edges[:, shuffle]
    own_emb = IMG_EMB[order]
    prob = staig_probabilities(edges, own_emb)
    reference, candidate = probability_sides(edges, prob, img_emb=IMG_EMB, candidate_order=order)
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "pass"
    assert result.diagnosis == ""


def test_probabilities_on_common_edges(tmp_path):
    rank = np.random.default_rng(1).permutation(POINTS.shape[0])
    edges = knn_edges(POINTS, k=5, tie_rank=rank)
    prob = staig_probabilities(edges, IMG_EMB)
    reference, candidate = probability_sides(edges, prob, img_emb=IMG_EMB)
    result = judge_probabilities(tmp_path, reference, candidate)
    # A spot's total distance changes with its neighbours, so values differ too.
    assert "common edges" in result.diagnosis
    assert "the graph differs upstream (see graph.edges)" in result.diagnosis
    assert result.status == "fail"
    assert "applies STAIG's rule d_ij / Σ_j d_ij to its own inputs" in result.diagnosis
    assert "its spots have other neighbours" in result.diagnosis


def test_keep_probabilities_are_named(tmp_path):
    prob = 1.0 - staig_probabilities(REFERENCE_EDGES, IMG_EMB)
    reference, candidate = probability_sides(REFERENCE_EDGES, prob, img_emb=IMG_EMB)
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "fail"
    assert "the candidate stores 1 - p" in result.diagnosis
    assert "common edges" not in result.diagnosis


def test_other_formula_is_named(tmp_path):
    sources, targets = REFERENCE_EDGES
    distance = np.linalg.norm(IMG_EMB[sources] - IMG_EMB[targets], axis=1)
    weights = np.exp(distance)
    totals = np.bincount(sources, weights=weights)
    prob = weights / totals[sources]
    reference, candidate = probability_sides(REFERENCE_EDGES, prob, img_emb=IMG_EMB)
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "fail"
    assert "do not follow STAIG's rule" in result.diagnosis


def test_upstream_embedding_is_named(tmp_path):
    other = IMG_EMB + np.random.default_rng(2).normal(scale=0.5, size=IMG_EMB.shape)
    prob = staig_probabilities(REFERENCE_EDGES, other)
    reference, candidate = probability_sides(
        REFERENCE_EDGES, prob, img_emb=IMG_EMB, candidate_img_emb=other
    )
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "fail"
    assert "its image embedding differs upstream (see image_embedding.img_emb)" in result.diagnosis


def test_misaligned_probability_count_errors(tmp_path):
    prob = staig_probabilities(REFERENCE_EDGES, IMG_EMB)[:-1]
    reference, candidate = probability_sides(REFERENCE_EDGES, prob, img_emb=IMG_EMB)
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "error"
    assert "one probability per edge" in result.description


def test_zero_distance_edges_get_zero():
    embedding = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    edges = np.array([[0, 0, 1, 2], [1, 2, 0, 0]])
    assert staig_probabilities(edges, embedding).tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("mode", ["isolated"])
def test_isolated_candidate_scores_reference_edges(tmp_path, mode):
    # The isolated candidate was fed the reference's graph and embedding.
    order = np.random.default_rng(4).permutation(POINTS.shape[0])
    reference, candidate = probability_sides(
        np.asarray(REFERENCE_EDGES)[:, :0], np.zeros(0), img_emb=IMG_EMB, candidate_order=order
    )
    isolated = {"edge_probabilities": {
        "edge_prob": staig_probabilities(REFERENCE_EDGES, IMG_EMB), "config": {}
    }}
    context = make_context(tmp_path, reference, candidate, isolated=isolated)
    [result] = edge_probabilities.check_values(context, mode)
    assert result.status == "pass"


def test_fed_graph_uses_reference_edges(tmp_path):
    # A candidate without its own graph stage scored the reference's edges.
    reference, candidate = probability_sides(
        REFERENCE_EDGES, staig_probabilities(REFERENCE_EDGES, IMG_EMB), img_emb=IMG_EMB
    )
    del candidate["graph"]
    result = judge_probabilities(tmp_path, reference, candidate)
    assert result.status == "pass"
