"""Seeded runs reuse the seed-independent stages; hybrids swap one stage's implementation."""

from __future__ import annotations

from pathlib import Path

from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES
from harness.matrix.adapters import Adapt
from harness.matrix.plans import Hybrid, SidePlan, seeded_closure
from harness.sides import candidate_implementation, reference_implementation

MODEL_STAGES = frozenset({"train", "cluster", "refine", "metrics"})


class Undeclared:
    """An implementation that does not say which stages read the seed."""

    name = "undeclared"


def plan(
    side: str, root: Path, *, seeded=MODEL_STAGES, provided=frozenset(STAGE_NAMES), fallback=None
):
    return SidePlan(
        implementation="reference" if side == "reference" else "legacy",
        side=side,
        config=RunConfig(
            preset="quick", options={} if side == "reference" else {"candidate": "legacy"}
        ),
        data_dir=Path("/data/slice"),
        root=root,
        seeded=seeded,
        provided=provided,
        fallback=fallback,
    )


def test_seeded_closure_of_both_sides_is_model_stages():
    assert seeded_closure(reference_implementation()) == MODEL_STAGES
    assert seeded_closure(candidate_implementation("legacy")) == MODEL_STAGES


def test_undeclared_implementation_is_seeded_everywhere():
    assert seeded_closure(Undeclared()) == frozenset(STAGE_NAMES)


def test_seed_step_recomputes_only_seeded_stages(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    step = reference.seed_step(4)
    assert step.stages == ("train", "cluster", "refine", "metrics")
    assert step.out_dir == str(tmp_path / "ref-seed4")
    assert step.config["seed"] == 4
    assert set(step.feeds) == {"load", "genes", "graph", "edge_probabilities", "pseudo_labels"}
    assert set(step.feeds.values()) == {str(tmp_path / "ref")}


def test_unprovided_stage_is_fed_from_fallback(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    partial = plan(
        "candidate",
        tmp_path / "cand",
        provided=frozenset(STAGE_NAMES) - {"graph"},
        fallback=reference,
    )
    assert partial.folder_of("graph", 2) == tmp_path / "ref"
    assert partial.folder_of("train", 2) == tmp_path / "cand-seed2"
    assert "graph" not in partial.base_step().stages
    assert partial.base_step().feeds["graph"] == str(tmp_path / "ref")


def test_patches_swap_shares_image_stages_across_seeds(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(stage="patches", receiver=candidate, donor=reference)
    assert not hybrid.per_seed
    donor, shared = hybrid.shared_steps()
    assert donor.implementation == "reference"
    assert donor.stages == ("patches",)
    assert donor.feeds == {"load": str(tmp_path / "cand")}
    assert shared.implementation == "legacy"
    assert shared.stages == (
        "patch_filter",
        "image_features",
        "image_embedding",
        "edge_probabilities",
        "pseudo_labels",
    )
    assert shared.feeds["patches"] == donor.out_dir
    [seeded] = hybrid.seed_steps(1)
    assert seeded.stages == ("train", "cluster", "refine", "metrics")
    assert seeded.config["seed"] == 1
    assert seeded.feeds["pseudo_labels"] == shared.out_dir
    assert seeded.feeds["edge_probabilities"] == shared.out_dir
    assert seeded.feeds["graph"] == str(tmp_path / "cand")


def test_train_swap_runs_donor_at_each_seed(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(stage="train", receiver=reference, donor=candidate)
    assert hybrid.per_seed
    assert hybrid.shared_steps() == []
    donor, seeded = hybrid.seed_steps(2)
    assert donor.implementation == "legacy"
    assert donor.config["seed"] == 2
    assert donor.feeds["pseudo_labels"] == str(tmp_path / "ref")
    assert seeded.stages == ("cluster", "refine", "metrics")
    assert seeded.feeds["train"] == donor.out_dir
    assert donor.out_dir != hybrid.seed_steps(3)[0].out_dir


def test_cluster_swap_feeds_receiver_seeded_training(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(stage="cluster", receiver=candidate, donor=reference)
    donor, seeded = hybrid.seed_steps(0)
    assert donor.feeds["train"] == str(tmp_path / "cand-seed0")
    assert seeded.stages == ("refine", "metrics")
    assert seeded.feeds["cluster"] == donor.out_dir


def test_patch_swap_resizes_where_patches_cross(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(
        stage="patches", receiver=reference, donor=candidate, adapt=frozenset({"patches"})
    )
    assert hybrid.resized_stages() == ["patches"]
    donor, resize, shared = hybrid.shared_steps()
    assert isinstance(resize, Adapt)
    assert donor.implementation == "legacy"
    assert resize.source == donor.out_dir
    assert resize.like == str(tmp_path / "ref")
    assert shared.feeds["patches"] == resize.out_dir
    assert resize.out_dir.endswith("patches-for-reference")
    [seeded] = hybrid.seed_steps(0)
    assert seeded.feeds["pseudo_labels"] == shared.out_dir


def test_filter_swap_resizes_its_input_and_its_output(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(
        stage="patch_filter",
        receiver=candidate,
        donor=reference,
        adapt=frozenset({"patches", "patch_filter"}),
    )
    assert hybrid.resized_stages() == ["patches", "patch_filter"]
    into_donor, donor, out_of_donor, shared = hybrid.shared_steps()
    assert (into_donor.stage, into_donor.source, into_donor.like) == (
        "patches", str(tmp_path / "cand"), str(tmp_path / "ref"),
    )
    assert donor.feeds["patches"] == into_donor.out_dir
    assert (out_of_donor.stage, out_of_donor.source, out_of_donor.like) == (
        "patch_filter", donor.out_dir, str(tmp_path / "cand"),
    )
    assert shared.feeds["patch_filter"] == out_of_donor.out_dir


def test_swap_without_size_difference_has_no_resize(tmp_path):
    reference = plan("reference", tmp_path / "ref")
    candidate = plan("candidate", tmp_path / "cand")
    hybrid = Hybrid(stage="graph", receiver=candidate, donor=reference, adapt=frozenset({"patches"}))
    assert hybrid.resized_stages() == []
    assert not any(isinstance(step, Adapt) for step in hybrid.shared_steps())
