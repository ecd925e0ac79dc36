"""Reference hyperparameters: STAIG's per-slice configs and the two presets.

Slice configs live in ``configs/staig_slices.json`` (shipped with the package)
and are selected by name: ``RunConfig.slice_config``, else the data folder's
name when it matches a config (``.../151673``), else ``synthetic`` for a
folder written by ``harness synth``. Any other slice needs an explicit
``--slice-config``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.errors import InputError

PRESET_SETTINGS: dict[str, dict[str, Any]] = {
    # The published settings (STAIG's image-feature notebook and 151673 example).
    "staig": {
        "patch_size": 512,
        "encoder": "resnet50",
        "encoder_input_size": 256,
        "byol_epochs": 1,
        "byol_batch_size": 43,
        "byol_learning_rate": 3e-4,
        "byol_max_patches": None,
        "embed_batch_size": 64,
        "dtype": "float64",
        "num_epochs": None,
    },
    # CPU and CI: a small encoder at a small input size, BYOL on a subset, fewer
    # training epochs. Every value that differs from "staig" is a reduction and
    # is written into the stage configs under "reductions".
    "quick": {
        "patch_size": 512,
        "encoder": "resnet18",
        "encoder_input_size": 64,
        "byol_epochs": 1,
        "byol_batch_size": 43,
        "byol_learning_rate": 3e-4,
        "byol_max_patches": 256,
        "embed_batch_size": 256,
        # float64 convolutions have no fast CPU kernels; BYOL in float32 is the
        # quick preset's largest saving.
        "dtype": "float32",
        "num_epochs": 30,
    },
}
# The quick encoder with the published training length (None: the slice's num_epochs).
PRESET_SETTINGS["quick-encoders"] = {**PRESET_SETTINGS["quick"], "num_epochs": None}


def load_slice_configs() -> dict[str, dict[str, Any]]:
    """Return every shipped slice config by name (keys starting with ``_`` are comments)."""
    text = resources.files("reference").joinpath("configs/staig_slices.json").read_text()
    data = json.loads(text)
    return {
        name: {key: value for key, value in values.items() if not key.startswith("_")}
        for name, values in data.items()
        if not name.startswith("_")
    }


def choose_slice_config(config: RunConfig, data_dir: Path | None) -> str:
    """Return the name of the slice config to use for a run.

    Raises
    ------
    InputError
        When the slice config is unknown, or the data folder matches none.
    """
    configs = load_slice_configs()
    if config.slice_config is not None:
        if config.slice_config not in configs:
            msg = (
                f"unknown slice config {config.slice_config!r}; shipped configs: "
                f"{', '.join(sorted(configs))}"
            )
            raise InputError(msg)
        return config.slice_config
    if data_dir is not None:
        if data_dir.name in configs:
            return data_dir.name
        if (data_dir / "synthetic.json").is_file():
            return "synthetic"
    msg = (
        f"no STAIG config for the slice in {data_dir}; pass --slice-config with one of "
        f"{', '.join(sorted(configs))}, the closest slice in layout"
    )
    raise InputError(msg)


def resolve_params(config: RunConfig, data_dir: Path | None) -> dict[str, Any]:
    """Return the effective reference parameters of a run.

    The result merges the slice config and the preset, and lists under
    ``reductions`` every preset value that differs from the published ones.
    """
    slice_name = choose_slice_config(config, data_dir)
    hyper = dict(load_slice_configs()[slice_name])
    preset = dict(PRESET_SETTINGS[config.preset])
    reductions = _reductions(preset, hyper)
    if preset["num_epochs"] is not None:
        hyper["num_epochs"] = preset["num_epochs"]
    if config.seed is not None:
        hyper["seed"] = config.seed
    return {
        "slice_config": slice_name,
        "preset": config.preset,
        "hyper": hyper,
        "image": {key: value for key, value in preset.items() if key != "num_epochs"},
        "reductions": reductions,
    }


def _reductions(preset: Mapping[str, Any], hyper: Mapping[str, Any]) -> dict[str, Any]:
    published = PRESET_SETTINGS["staig"]
    reductions = {
        key: {"published": published[key], "used": value}
        for key, value in preset.items()
        if key != "num_epochs" and value != published[key]
    }
    if preset["num_epochs"] is not None and preset["num_epochs"] != hyper["num_epochs"]:
        reductions["num_epochs"] = {"published": hyper["num_epochs"], "used": preset["num_epochs"]}
    return reductions
