"""``staig_fusion`` behind the harness's stage contract.

Usage::

    from candidate.pipeline import StaigFusion

    legacy = StaigFusion(profile="legacy")
    strict = StaigFusion()  # profile "strict"

Each ``stage_<name>`` method builds the run's :class:`~candidate.config.StaigFusionConfig`
from ``context.config`` and hands it to ``candidate/stages/<name>.py``.

Run options read from ``context.config.options``:

``encoder``
    ``"uni"`` (default), ``"uni2"`` or another name of
    :data:`candidate.encoders.registry.ENCODERS`.
``hvg_on_lognorm``
    Select highly variable genes with flavor ``"seurat"`` on log-normalised
    counts instead of ``"seurat_v3"`` on raw counts.
``simulate_no_r``
    Behave as if rpy2 or R's mclust could not be imported.
``n_epochs``
    Training epochs instead of the preset's, recorded as a reduction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from candidate.config import PROFILES, StaigFusionConfig
from candidate.profiles import build_config
from candidate.stages import (
    cluster,
    edge_probabilities,
    genes,
    graph,
    image_embedding,
    image_features,
    load,
    metrics,
    patch_filter,
    patches,
    pseudo_labels,
    refine,
    train,
)
from harness.errors import InputError
from harness.implementation import StageContext, StagewiseImplementation


class StaigFusion(StagewiseImplementation):
    """MIHD's ``staig_fusion`` with the ``legacy`` or ``strict`` profile.

    Parameters
    ----------
    profile
        ``"strict"`` (default), the alignment rewrite, or ``"legacy"``, the
        implementation with the five known divergences from STAIG.
    """

    version = "1"
    seeded_stages = ("train",)
    """Stages that read ``RunConfig.seed``: only training; PCA, KMeans and mclust use
    fixed seeds from the profile."""

    def __init__(self, profile: Literal["legacy", "strict"] = "strict") -> None:
        if profile not in PROFILES:
            msg = f"unknown staig_fusion profile {profile!r}; expected one of {', '.join(PROFILES)}"
            raise InputError(msg)
        self.profile = profile
        self.name = f"staig_fusion-{profile}"

    def identity(self) -> dict[str, Any]:
        """Return the base identity plus the profile."""
        return {**super().identity(), "profile": self.profile}

    def declared_waivers(self) -> list[dict[str, str]]:
        """Return the divergences this profile makes on purpose (the harness waives them).

        The strict rewrite keeps a pathology foundation model as its image
        encoder; everything else is meant to follow STAIG. The legacy profile
        declares nothing: its divergences are the bugs the harness must find.
        """
        if self.profile != "strict":
            return []
        return [
            {
                "check": "image_features.features",
                "reason": (
                    "staig_fusion encodes patches with a pathology foundation model (UNI) "
                    "instead of STAIG's BYOL ResNet-50, on purpose"
                ),
            }
        ]

    def settings(self, context: StageContext) -> StaigFusionConfig:
        """Return the full configuration of a run in ``context``."""
        return build_config(self.profile, run_config=context.config, data_dir=context.data_dir)

    def minimum_spots(self, context: StageContext) -> tuple[int, str]:
        """Return the spots the run needs: one per image pseudo-label cluster, and why."""
        k = self.settings(context).n_pseudo_labels
        return k, f"{k} image pseudo-label clusters of the {self.profile} profile"

    def stage_load(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Read counts, positions, scale factors and labels; drop unlabelled spots."""
        return load.run(inputs, context, self.settings(context))

    def stage_patches(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Cut one window per spot from the first available image level."""
        return patches.run(inputs, context, self.settings(context))

    def stage_patch_filter(
        self, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Low-pass filter the windows (strict) or pass them on (legacy)."""
        return patch_filter.run(inputs, context, self.settings(context))

    def stage_image_features(
        self, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Embed the windows with a foundation-model encoder."""
        return image_features.run(inputs, context, self.settings(context))

    def stage_image_embedding(
        self, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Standardise the image features and reduce them to 16 PCA components."""
        return image_embedding.run(inputs, context, self.settings(context))

    def stage_genes(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Select highly variable genes and normalise expression."""
        return genes.run(inputs, context, self.settings(context))

    def stage_graph(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Build the symmetric spatial kNN graph."""
        return graph.run(inputs, context, self.settings(context))

    def stage_edge_probabilities(
        self, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Turn image-embedding distances into edge drop probabilities."""
        return edge_probabilities.run(inputs, context, self.settings(context))

    def stage_pseudo_labels(
        self, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Cluster the image embedding with KMeans."""
        return pseudo_labels.run(inputs, context, self.settings(context))

    def stage_train(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Train the graph contrastive model."""
        return train.run(inputs, context, self.settings(context))

    def stage_cluster(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Cluster the embedding into domains."""
        return cluster.run(inputs, context, self.settings(context))

    def stage_refine(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Smooth the domains by a spatial majority vote."""
        return refine.run(inputs, context, self.settings(context))

    def stage_metrics(self, inputs: Mapping[str, Any], context: StageContext) -> dict[str, Any]:
        """Score the domains against the ground truth."""
        return metrics.run(inputs, context, self.settings(context))
