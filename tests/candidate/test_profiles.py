"""The two profiles' settings, slice choice and quick-preset reductions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from candidate.pipeline import StaigFusion
from candidate.profiles import build_config, choose_slice
from harness.config import RunConfig
from harness.errors import InputError


def config_for(profile: str, **run) -> object:
    run.setdefault("preset", "staig")
    run.setdefault("slice_config", "151673")
    return build_config(profile, run_config=RunConfig(**run), data_dir=None)


def test_strict_uses_slice_hyperparameters() -> None:
    config = config_for("strict")

    assert config.train.temperature == 35
    assert config.train.n_epochs == 300
    assert config.train.lr == 5e-4
    assert config.train.feature_drop == (0.1, 0.2)
    assert config.train.seed == 39788
    assert config.n_neighbours == 5
    assert config.n_pseudo_labels == 80
    assert config.cluster.n_clusters == 7
    assert config.cluster.refine_neighbours == 15
    assert config.patches.centre_frame == "level_scale"
    assert config.patches.filter == "fft_lowpass"
    assert config.genes.order == "flag_then_normalise_all"


def test_legacy_uses_generic_hyperparameters() -> None:
    config = config_for("legacy")

    assert config.train.temperature == 30
    assert config.train.n_epochs == 200
    assert config.train.lr == 1e-3
    assert config.train.feature_drop == (0.1, 0.3)
    assert config.n_neighbours == 3
    assert config.n_pseudo_labels == 300
    assert config.train.hidden_dim == config.train.proj_dim == 64
    assert config.train.weight_decay == 1e-5
    assert config.cluster.n_clusters == 7
    assert config.patches.centre_frame == "tissue_hires_scalef"
    assert config.patches.output_px == 224
    assert config.patches.filter == "none"
    assert config.genes.order == "subset_then_normalise"


def test_strict_151672_settings() -> None:
    config = config_for("strict", slice_config="151672")

    assert config.train.gcn_layers == 2
    assert config.train.temperature == 34
    assert config.train.n_epochs == 520
    assert config.cluster.n_clusters == 5
    assert config.n_neighbours == 3


def test_legacy_takes_clusters_from_slice() -> None:
    assert config_for("legacy", slice_config="synthetic").cluster.n_clusters == 7
    assert config_for("legacy", slice_config="151672").cluster.n_clusters == 5


@pytest.mark.parametrize(
    ("profile", "epochs", "configured"), [("strict", 30, 300), ("legacy", 20, 200)]
)
def test_quick_preset_records_epochs(profile: str, epochs: int, configured: int) -> None:
    config = config_for(profile, preset="quick")

    assert config.train.n_epochs == epochs
    assert config.reductions["n_epochs"] == {"configured": configured, "used": epochs}
    assert config.encoder.quick_stand_in == "vit_tiny_patch16_224"


@pytest.mark.parametrize(("profile", "epochs"), [("strict", 300), ("legacy", 200)])
def test_quick_encoders_keep_configured_epochs(profile: str, epochs: int) -> None:
    config = config_for(profile, preset="quick-encoders")

    assert config.train.n_epochs == epochs
    assert "n_epochs" not in config.reductions
    assert config.encoder.quick_stand_in == "vit_tiny_patch16_224"


def test_epoch_option_is_a_reduction() -> None:
    config = config_for("strict", options={"n_epochs": 3})

    assert config.train.n_epochs == 3
    assert config.reductions["n_epochs"] == {"configured": 300, "used": 3}


@pytest.mark.parametrize("value", [0, -2, 2.5, True, "10"])
def test_bad_epoch_option_raises(value: object) -> None:
    with pytest.raises(InputError, match="n_epochs"):
        config_for("strict", options={"n_epochs": value})


def test_seed_override() -> None:
    assert config_for("strict", seed=7).train.seed == 7


def test_slice_chosen_from_folder(tmp_path: Path) -> None:
    named = tmp_path / "151672"
    named.mkdir()
    synthetic = tmp_path / "generated"
    synthetic.mkdir()
    (synthetic / "synthetic.json").write_text("{}")

    assert choose_slice(RunConfig(), named) == "151672"
    assert choose_slice(RunConfig(), synthetic) == "synthetic"


def test_unknown_slice_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--slice-config"):
        choose_slice(RunConfig(), tmp_path)
    with pytest.raises(InputError, match="unknown slice config '999'"):
        choose_slice(RunConfig(slice_config="999"), tmp_path)


def test_unknown_profile_raises() -> None:
    with pytest.raises(InputError, match="unknown staig_fusion profile"):
        StaigFusion(profile="loose")  # type: ignore[arg-type]


def test_pipeline_names_and_stages() -> None:
    from harness.contract.stages import STAGE_NAMES

    legacy, strict = StaigFusion(profile="legacy"), StaigFusion()

    assert legacy.name == "staig_fusion-legacy"
    assert strict.name == "staig_fusion-strict"
    assert strict.provided_stages() == list(STAGE_NAMES)
    assert legacy.identity()["profile"] == "legacy"
    assert legacy.identity()["source_sha256"] == strict.identity()["source_sha256"]


@pytest.mark.parametrize(("profile", "k"), [("legacy", 300), ("strict", 80)])
def test_pseudo_label_count(profile: str, k: int, make_context) -> None:
    img_emb = np.random.default_rng(4).normal(size=(320, 16))
    context = make_context(slice_config="151673")

    outputs = StaigFusion(profile=profile).stage_pseudo_labels(
        {"image_embedding/img_emb": img_emb}, context
    )

    assert len(np.unique(outputs["pseudo_labels"])) == k
    assert outputs["config"]["n_pseudo_labels"] == k
    assert outputs["config"]["n_init"] == 10


def test_pseudo_labels_need_enough_spots(make_context) -> None:
    img_emb = np.random.default_rng(4).normal(size=(120, 16))
    context = make_context(slice_config="151673")

    with pytest.raises(InputError, match="300 image pseudo-label clusters") as raised:
        StaigFusion(profile="legacy").stage_pseudo_labels(
            {"image_embedding/img_emb": img_emb}, context
        )
    assert "the slice has 120" in str(raised.value)
    assert "--spots 320 or more" in str(raised.value)
