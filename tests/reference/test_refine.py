"""Refinement against a per-spot vote, with tied votes, tied distances and real layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError
from reference.stages import refine
from reference.stages.refine import majority_vote, refine_domains

from ._slices import (
    central_window,
    dlpfc_folder,
    hexagonal_grid,
    naive_neighbours,
    read_in_tissue_positions,
    read_truth,
    stage_context,
    stage_params,
)


def naive_refine(domains: np.ndarray, points: np.ndarray, radius: int) -> list[str]:
    """Per spot: list neighbour domains nearest first, keep the first most frequent one."""
    labels = [str(value) for value in domains]
    refined = []
    for chosen in naive_neighbours(points, radius):
        votes = [labels[j] for j in chosen]
        best, best_count = votes[0], 0
        for label in votes:
            count = votes.count(label)
            if count > best_count:
                best, best_count = label, count
        refined.append(best)
    return refined


def test_real_dlpfc_layers_match_vote() -> None:
    folder = dlpfc_folder()
    barcodes, coords = read_in_tissue_positions(folder)
    window = central_window(coords, 800)
    points = coords[window]
    layers = read_truth(folder, barcodes[window])
    refined, counts = refine_domains(layers, points, radius=15)
    assert refined.tolist() == naive_refine(layers, points, 15)
    assert counts["n_changed"] == int(np.sum(refined != layers))
    assert counts["n_changed"] > 0


def test_noisy_hexagonal_domains_match_vote() -> None:
    points = hexagonal_grid(14, 14, seed=8)
    rng = np.random.default_rng(2)
    # Vertical stripes with 30 % of the spots relabelled at random: many tied votes.
    stripes = (points[:, 0] // 20).astype(int)
    noisy = np.where(rng.random(stripes.size) < 0.3, rng.integers(0, 4, stripes.size), stripes)
    domains = np.array([f"domain{value}" for value in noisy])
    refined, counts = refine_domains(domains, points, radius=15)
    assert refined.tolist() == naive_refine(domains, points, 15)
    assert counts["n_tied_votes"] > 0
    assert counts["n_spots_tied_at_cutoff"] > 0


def test_tied_vote_goes_to_nearest() -> None:
    # Spot 0 at the origin; its neighbours nearest first carry B, A, A, B.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, -4.0]])
    domains = np.array(["A", "B", "A", "A", "B"])
    refined, counts = refine_domains(domains, points, radius=4)
    assert refined[0] == "B"
    assert counts["n_tied_votes"] >= 1


def test_tied_distance_uses_lower_index() -> None:
    # Spots 1 and 2 are both 1 px from spot 0; with radius 1 the lower index votes.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    refined, _ = refine_domains(np.array(["X", "Y", "Z"]), points, radius=1)
    assert refined[0] == "Y"


def test_own_domain_does_not_vote() -> None:
    points = hexagonal_grid(5, 5, seed=0)
    domains = np.array(["outer"] * 25)
    centre = int(np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1)))
    domains[centre] = "island"
    refined, counts = refine_domains(domains, points, radius=6)
    assert refined[centre] == "outer"
    assert "island" not in refined.tolist()
    assert counts["n_changed"] == 1


def test_majority_vote_table() -> None:
    votes = np.array(
        [
            [3, 1, 1, 3, 2],  # 3 and 1 tie at two votes; 3 comes first
            [2, 2, 2, 1, 1],  # clear majority
            [0, 1, 2, 3, 4],  # all tie at one vote; the nearest wins
            [4, 4, 4, 4, 4],  # unanimous
            [1, 0, 0, 1, 0],  # 0 wins three to two
        ]
    )
    winners, tied = majority_vote(votes)
    assert winners.tolist() == [3, 2, 0, 4, 0]
    assert tied.tolist() == [True, False, True, False, False]


def test_run_returns_strings_and_config() -> None:
    points = hexagonal_grid(6, 6, seed=5)
    domains = np.arange(36) % 3
    outputs = refine.run(
        {"cluster/domains": domains, "load/spatial": points},
        stage_context(),
        stage_params(radius=6),
    )
    assert outputs["refined"].dtype.kind == "U"
    assert outputs["refined"].shape == (36,)
    assert outputs["refined"].tolist() == naive_refine(domains, points, 6)
    assert outputs["config"]["radius"] == 6
    validate_outputs(get_stage("refine"), outputs, {"N": 36})
    dumps_json(outputs["config"])


@pytest.mark.parametrize(
    ("domains", "points", "radius", "match"),
    [
        (np.array(["A", "B"]), np.zeros((3, 2)), 1, "same spots"),
        (np.array(["A", "B", "C"]), np.zeros((3, 2)), 3, "k=3"),
        (
            np.array(["A", "B", "C"]),
            np.array([[0.0, 0.0], [1.0, 1.0], [np.inf, 0.0]]),
            1,
            "infinite",
        ),
    ],
    ids=["length-mismatch", "radius-too-large", "infinite-coordinate"],
)
def test_invalid_inputs_raise(
    domains: np.ndarray, points: np.ndarray, radius: int, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        refine_domains(domains, points, radius=radius)


@settings(max_examples=50, deadline=None)
@given(
    n_spots=st.integers(3, 40),
    n_domains=st.integers(1, 5),
    radius=st.integers(1, 15),
    grid=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_slices_match_vote(
    n_spots: int, n_domains: int, radius: int, grid: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    if grid:
        # Small integer coordinates: ties in distance and duplicate positions.
        points = rng.integers(0, 5, size=(n_spots, 2)).astype(np.float64)
    else:
        points = rng.normal(size=(n_spots, 2))
    radius = min(radius, n_spots - 1)
    domains = rng.integers(0, n_domains, size=n_spots).astype(str)
    refined, _ = refine_domains(domains, points, radius=radius)
    assert refined.tolist() == naive_refine(domains, points, radius)
    assert set(refined.tolist()) <= set(domains.tolist())
