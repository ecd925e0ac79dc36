"""Hyperparameter names: each side's spelling mapped to STAIG's canonical names.

A stage's ``config`` artifact records the settings the side used, under the
side's own names: the reference writes STAIG's (``tau``, ``num_neigh``,
``k``), a re-implementation writes its own (``temperature``,
``n_neighbours``, ``n_pseudo_labels``). :func:`canonical_hyperparameters`
walks a stage config and returns the settings it recognises under STAIG's
names, so the two sides can be compared key by key.

Only names listed here are recognised. Free-text descriptions (``"metric":
"euclidean on ..."``), counts of what a stage found and software versions
are not hyperparameters and are left out. The image encoder is left out as
well, because ``image_features.encoder`` judges it from the encoder record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

STAIG_HYPERPARAMETERS: tuple[str, ...] = (
    "seed",
    "learning_rate",
    "num_hidden",
    "num_proj_hidden",
    "activation",
    "base_model",
    "num_layers",
    "drop_feature_rate_1",
    "drop_feature_rate_2",
    "tau",
    "num_epochs",
    "weight_decay",
    "num_clusters",
    "num_gene",
    "num_neigh",
    "k",
    "radius",
)
"""The keys of a STAIG slice config (its ``train_img_config.yaml`` entry for a slice)."""

PIPELINE_SETTINGS: tuple[str, ...] = (
    "slice_config",
    "preset",
    "python_seed",
    "patch_size",
    "window_side_fullres_px",
    "level_preference",
    "n_components",
    "random_state",
    "n_init",
    "hvg_flavor",
    "target_sum",
    "scale_max_value",
    "model",
)
"""Other settings that STAIG fixes in code rather than in its slice config.

``n_components`` and ``random_state`` are PCA's in ``image_embedding`` and
KMeans's in ``pseudo_labels``; ``model`` is the mclust covariance model and
``seed`` in ``cluster`` is R's ``set.seed`` value. Stage configs are compared
stage by stage, so a name may mean different things in different stages.
"""

CANONICAL_NAMES: frozenset[str] = frozenset(STAIG_HYPERPARAMETERS + PIPELINE_SETTINGS)
"""Every name a stage config key can be mapped to."""

ALIASES: Mapping[str, str] = MappingProxyType({
    # training
    "lr": "learning_rate",
    "temperature": "tau",
    "n_epochs": "num_epochs",
    "epochs": "num_epochs",
    "max_epochs": "num_epochs",
    "hidden_dim": "num_hidden",
    "hidden_channels": "num_hidden",
    "n_hidden": "num_hidden",
    "proj_dim": "num_proj_hidden",
    "proj_hidden_dim": "num_proj_hidden",
    "projection_dim": "num_proj_hidden",
    "gcn_layers": "num_layers",
    "n_layers": "num_layers",
    "drop_feature_1": "drop_feature_rate_1",
    "drop_feature_2": "drop_feature_rate_2",
    "feature_drop_1": "drop_feature_rate_1",
    "feature_drop_2": "drop_feature_rate_2",
    "wd": "weight_decay",
    "torch_seed": "seed",
    "python_random_seed": "python_seed",
    # genes, graph, pseudo-labels, clustering, refinement
    "n_top_genes": "num_gene",
    "n_hvg": "num_gene",
    "num_genes": "num_gene",
    "n_neighbors": "num_neigh",
    "n_neighbours": "num_neigh",
    "knn_k": "num_neigh",
    "k_neighbors": "num_neigh",
    "n_pseudo_labels": "k",
    "pseudo_label_k": "k",
    "pseudo_k": "k",
    "n_pseudo_clusters": "k",
    "n_clusters": "num_clusters",
    "n_domains": "num_clusters",
    "refine_neighbours": "radius",
    "refine_neighbors": "radius",
    "refine_radius": "radius",
    # image side and run header
    "output_px": "patch_size",
    "patch_px": "patch_size",
    "patch_output_size": "patch_size",
    "window_fullres_px": "window_side_fullres_px",
    "pca_components": "n_components",
    "n_pcs": "n_components",
    "pca_random_state": "random_state",
    "pca_seed": "random_state",
    "slice_name": "slice_config",
    "scale.max_value": "scale_max_value",
    "mclust_model": "model",
    "model_names": "model",
    "modelNames": "model",
})
"""Other spellings of a canonical name, keyed by a config key or a dotted key path.

A dotted alias (``scale.max_value``) matches that path inside a config; a
plain alias matches a key at any depth.
"""

STAGE_ALIASES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "cluster": MappingProxyType({"r_seed": "seed", "mclust_seed": "seed", "random_seed": "seed"}),
})
"""Aliases that hold in one stage only: in ``cluster`` a seed is R's ``set.seed`` value."""

SEQUENCE_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "feature_drop": ("drop_feature_rate_1", "drop_feature_rate_2"),
    "feature_drop_rates": ("drop_feature_rate_1", "drop_feature_rate_2"),
    "drop_feature_rates": ("drop_feature_rate_1", "drop_feature_rate_2"),
})
"""Keys whose value is a list (or tuple) of one canonical setting per element."""

SKIPPED_SUBTREES: frozenset[str] = frozenset({"reductions", "versions", "packages", "byol"})
"""Nested objects that describe a run rather than set it: the preset's reductions
(which repeat a setting's published and used values), software versions, and the
reference's BYOL record, whose ``epochs`` are image-encoder epochs."""


@dataclass(frozen=True)
class ConfigEntry:
    """One recognised setting of a stage config.

    Attributes
    ----------
    name
        Canonical name, e.g. ``"tau"``.
    value
        The value as recorded (JSON types).
    source
        Where the side recorded it: a dotted key path, with ``[i]`` for an
        element of a sequence, e.g. ``"hyper.tau"`` or ``"feature_drop[1]"``.
    via_alias
        Whether the side used another spelling than the canonical one.
    """

    name: str
    value: Any
    source: str
    via_alias: bool


def canonical_name(key: str, *, stage: str | None = None, path: str | None = None) -> str | None:
    """Return the canonical name of a config key, or ``None`` when it is not a known setting.

    Parameters
    ----------
    key
        The key as written in a config, e.g. ``"temperature"``.
    stage
        The stage whose config contains the key; enables :data:`STAGE_ALIASES`.
    path
        The key's dotted path in the config (``"scale.max_value"``), tried first
        against dotted aliases.
    """
    if path is not None and path in ALIASES:
        return ALIASES[path]
    if key in CANONICAL_NAMES:
        return key
    stage_aliases = STAGE_ALIASES.get(stage or "", {})
    if key in stage_aliases:
        return stage_aliases[key]
    return ALIASES.get(key)


def canonical_hyperparameters(
    config: Mapping[str, Any], *, stage: str | None = None
) -> dict[str, ConfigEntry]:
    """Collect the recognised settings of one stage config under their canonical names.

    Nested objects are searched too (the reference keeps its training settings
    under ``hyper``), except :data:`SKIPPED_SUBTREES`. When one config records a
    setting at several places, the canonical spelling wins over an alias, then
    the shallower path, then the first one met.

    Parameters
    ----------
    config
        A stage's ``config`` artifact (a JSON object).
    stage
        The stage it belongs to, for :data:`STAGE_ALIASES`.

    Returns
    -------
    dict
        Canonical name to :class:`ConfigEntry`, in the order first met.
    """
    found: dict[str, tuple[tuple[int, int], ConfigEntry]] = {}
    for entry, depth in _walk(config, stage=stage, prefix="", depth=0):
        rank = (int(entry.via_alias), depth)
        if entry.name not in found or rank < found[entry.name][0]:
            found[entry.name] = (rank, entry)
    return {name: entry for name, (_, entry) in found.items()}


def lookup(config: Mapping[str, Any] | None, name: str, *, stage: str | None = None) -> Any:
    """Return the value a stage config records for canonical ``name``, or ``None``.

    Examples
    --------
    >>> lookup({"n_neighbours": 3}, "num_neigh", stage="graph")
    3
    """
    if not isinstance(config, Mapping):
        return None
    entry = canonical_hyperparameters(config, stage=stage).get(name)
    return None if entry is None else entry.value


def _walk(
    config: Mapping[str, Any], *, stage: str | None, prefix: str, depth: int
) -> list[tuple[ConfigEntry, int]]:
    entries: list[tuple[ConfigEntry, int]] = []
    for key, value in config.items():
        key = str(key)
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            if key not in SKIPPED_SUBTREES:
                entries.extend(_walk(value, stage=stage, prefix=path, depth=depth + 1))
            continue
        if key in SEQUENCE_ALIASES and _is_sequence(value):
            names = SEQUENCE_ALIASES[key]
            if len(value) == len(names):
                entries.extend(
                    (ConfigEntry(name, _plain(item), f"{path}[{index}]", via_alias=True), depth)
                    for index, (name, item) in enumerate(zip(names, value, strict=True))
                )
            continue
        name = canonical_name(key, stage=stage, path=path)
        if name is not None:
            entries.append((ConfigEntry(name, _plain(value), path, via_alias=name != key), depth))
    return entries


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _plain(value: Any) -> Any:
    """Return JSON-like values: tuples become lists, recursively."""
    if _is_sequence(value):
        return [_plain(item) for item in value]
    return value
