"""The two ``staig_fusion`` profiles and the per-slice settings they draw on.

``strict`` takes every hyperparameter from STAIG's image-mode configuration of
the slice (``train_img_config.yaml`` of github.com/y-itao/STAIG for 151673;
151672 as STAIG documents it; ``synthetic`` is 151673 with eight domains,
seven layers plus white matter). ``legacy`` uses one generic set for every
slice and takes only the number of domains from the slice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from candidate.config import (
    PROFILES,
    ClusterConfig,
    EncoderConfig,
    GeneConfig,
    PatchConfig,
    Profile,
    StaigFusionConfig,
    TrainConfig,
)
from harness.config import QUICK_ENCODER_PRESETS, RunConfig
from harness.errors import InputError

logger = logging.getLogger(__name__)

SYNTHETIC_MARKER = "synthetic.json"
"""File that marks a folder written by the harness's synthetic slice generator."""


def _staig_slice(**overrides: Any) -> Mapping[str, Any]:
    base = {
        "seed": 39788,
        "lr": 5e-4,
        "weight_decay": 1e-5,
        "n_epochs": 300,
        "gcn_layers": 1,
        "hidden_dim": 64,
        "proj_dim": 64,
        "temperature": 35.0,
        "feature_drop": (0.1, 0.2),
        "n_clusters": 7,
        "n_top_genes": 3000,
        "n_neighbours": 5,
        "n_pseudo_labels": 80,
        "refine_neighbours": 15,
    }
    base.update(overrides)
    return MappingProxyType(base)


SLICE_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "151673": _staig_slice(),
        "151672": _staig_slice(
            gcn_layers=2, temperature=34.0, n_epochs=520, n_clusters=5, n_neighbours=3
        ),
        "synthetic": _staig_slice(n_clusters=7),
    }
)
"""STAIG's image-mode hyperparameters per slice, under ``staig_fusion``'s names."""

LEGACY_GENERIC: Mapping[str, Any] = MappingProxyType(
    {
        "temperature": 30.0,
        "n_epochs": 200,
        "lr": 1e-3,
        "n_neighbours": 3,
        "feature_drop": (0.1, 0.3),
        "n_pseudo_labels": 300,
    }
)
"""The generic profile ``legacy`` applies to every slice (300 pseudo-labels is STAIG's
fallback when a config lacks ``k``)."""

QUICK_EPOCHS: Mapping[Profile, int] = MappingProxyType({"legacy": 20, "strict": 30})
"""Training epochs under the quick preset; strict uses the reference's quick value."""

QUICK_STAND_IN = "vit_tiny_patch16_224"
"""Small timm model that replaces UNI and UNI2 under the quick preset."""

DEFAULT_ENCODER = "uni"


def choose_slice(run_config: RunConfig, data_dir: Path | None) -> str:
    """Return the name of the per-slice settings a run uses.

    The order is ``run_config.slice_config``, then the data folder's name,
    then ``synthetic`` for a folder written by the synthetic slice generator.

    Raises
    ------
    InputError
        When the named settings do not exist or the folder matches none.
    """
    if run_config.slice_config is not None:
        if run_config.slice_config not in SLICE_SETTINGS:
            msg = (
                f"unknown slice config {run_config.slice_config!r}; staig_fusion has settings "
                f"for {', '.join(sorted(SLICE_SETTINGS))}"
            )
            raise InputError(msg)
        return run_config.slice_config
    if data_dir is not None:
        if data_dir.name in SLICE_SETTINGS:
            return data_dir.name
        if (data_dir / SYNTHETIC_MARKER).is_file():
            return "synthetic"
    msg = (
        f"no staig_fusion settings for the slice in {data_dir}; pass --slice-config with one "
        f"of {', '.join(sorted(SLICE_SETTINGS))}"
    )
    raise InputError(msg)


def build_config(
    profile: Profile, *, run_config: RunConfig, data_dir: Path | None
) -> StaigFusionConfig:
    """Build the full configuration of a run.

    Parameters
    ----------
    profile
        ``"legacy"`` or ``"strict"``.
    run_config
        The harness run configuration: preset, seed override, options
        (``encoder``, ``hvg_on_lognorm``, ``n_epochs``, an epoch count that
        replaces the preset's and is recorded as a reduction).
    data_dir
        The slice folder, used to choose the per-slice settings.

    Raises
    ------
    InputError
        For an unknown profile or slice.
    """
    if profile not in PROFILES:
        msg = f"unknown staig_fusion profile {profile!r}; expected one of {', '.join(PROFILES)}"
        raise InputError(msg)
    slice_name = choose_slice(run_config, data_dir)
    settings = dict(SLICE_SETTINGS[slice_name])
    if profile == "legacy":
        settings.update(LEGACY_GENERIC)

    options = run_config.options
    reductions: dict[str, dict[str, Any]] = {}
    epochs = QUICK_EPOCHS[profile] if run_config.preset == "quick" else settings["n_epochs"]
    if "n_epochs" in options:
        epochs = _positive_int(options["n_epochs"], name="n_epochs")
    if epochs != settings["n_epochs"]:
        reductions["n_epochs"] = {"configured": settings["n_epochs"], "used": epochs}
        settings["n_epochs"] = epochs
    if run_config.seed is not None:
        settings["seed"] = run_config.seed

    hvg_on_lognorm = bool(options.get("hvg_on_lognorm", False))
    return StaigFusionConfig(
        profile=profile,
        preset=run_config.preset,
        slice_name=slice_name,
        patches=PatchConfig(
            centre_frame="tissue_hires_scalef" if profile == "legacy" else "level_scale",
            output_px=224 if profile == "legacy" else 512,
            filter="none" if profile == "legacy" else "fft_lowpass",
        ),
        encoder=EncoderConfig(
            requested=str(options.get("encoder", DEFAULT_ENCODER)),
            quick_stand_in=QUICK_STAND_IN if run_config.preset in QUICK_ENCODER_PRESETS else None,
        ),
        genes=GeneConfig(
            n_top_genes=settings["n_top_genes"],
            hvg_flavor="seurat" if hvg_on_lognorm else "seurat_v3",
            hvg_input="log_normalised" if hvg_on_lognorm else "raw_counts",
            order="subset_then_normalise" if profile == "legacy" else "flag_then_normalise_all",
        ),
        train=TrainConfig(
            seed=settings["seed"],
            lr=settings["lr"],
            weight_decay=settings["weight_decay"],
            n_epochs=settings["n_epochs"],
            gcn_layers=settings["gcn_layers"],
            hidden_dim=settings["hidden_dim"],
            proj_dim=settings["proj_dim"],
            temperature=settings["temperature"],
            feature_drop=tuple(settings["feature_drop"]),
        ),
        cluster=ClusterConfig(
            n_clusters=settings["n_clusters"],
            policy="mclust_if_importable" if profile == "legacy" else "mclust_required",
            validate_embedding=profile == "strict",
            refine_neighbours=settings["refine_neighbours"],
        ),
        n_neighbours=settings["n_neighbours"],
        n_pseudo_labels=settings["n_pseudo_labels"],
        reductions=reductions,
    )


def _positive_int(value: Any, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"option {name}={value!r} must be a positive integer"
        raise InputError(msg)
    return value
