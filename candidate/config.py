"""The configuration schema of ``staig_fusion``: one frozen dataclass per pipeline part.

:func:`candidate.profiles.build_config` fills a :class:`StaigFusionConfig` from
a profile (``legacy`` or ``strict``), the slice and the run configuration. Each
stage writes the part it used (``to_dict``) as its ``config`` artifact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Profile = Literal["legacy", "strict"]
PROFILES: tuple[Profile, ...] = ("legacy", "strict")

CentreFrame = Literal["level_scale", "tissue_hires_scalef"]
PatchFilter = Literal["none", "fft_lowpass"]
HvgFlavor = Literal["seurat_v3", "seurat"]
HvgInput = Literal["raw_counts", "log_normalised"]
GeneOrder = Literal["flag_then_normalise_all", "subset_then_normalise"]
ClusterPolicy = Literal["mclust_required", "mclust_if_importable"]


@dataclass(frozen=True)
class PatchConfig:
    """Window cutting around spots and the filter applied to the windows.

    Attributes
    ----------
    centre_frame
        ``"level_scale"`` multiplies full-resolution coordinates by the scale
        of the image level the windows are cut from. ``"tissue_hires_scalef"``
        multiplies them by the hires scale factor, whatever the level.
    window_fullres_px
        Window side in full-resolution px before scaling to the level,
        ``int(3.5 * 144) = 504`` (STAIG's image notebook).
    output_px
        Side of the resized window in px.
    filter
        ``"fft_lowpass"`` (STAIG's frequency filter) or ``"none"``.
    level_preference
        Image levels tried in order; the first present is used.
    """

    centre_frame: CentreFrame
    output_px: int
    filter: PatchFilter
    window_fullres_px: int = 504
    level_preference: tuple[str, ...] = ("fullres", "hires", "lowres")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class EncoderConfig:
    """The image encoder a run requests and its quick-preset replacement.

    Attributes
    ----------
    requested
        Encoder name from the run options (``"uni"``, ``"uni2"`` or a name of
        :data:`candidate.encoders.registry.ENCODERS`).
    quick_stand_in
        Small timm model that replaces a foundation model under the quick preset,
        or ``None`` to build the requested model.
    batch_size
        Patches per forward pass.
    """

    requested: str
    quick_stand_in: str | None
    batch_size: int = 64

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class GeneConfig:
    """Highly variable genes and expression normalisation.

    Attributes
    ----------
    n_top_genes
        Number of highly variable genes (STAIG: 3000).
    hvg_flavor
        scanpy ``highly_variable_genes`` flavor.
    hvg_input
        Matrix the genes are selected on: raw counts or log-normalised counts.
    order
        ``"flag_then_normalise_all"``: flag genes, normalise every gene, then
        take the flagged columns (STAIG). ``"subset_then_normalise"``: subset to
        the flagged genes first, so library sizes count those genes only.
    target_sum
        ``normalize_total`` target per spot, 1e4 counts.
    scale_max_value
        Clip of ``scanpy.pp.scale`` (with ``zero_center=False``), 10.
    """

    n_top_genes: int
    hvg_flavor: HvgFlavor
    hvg_input: HvgInput
    order: GeneOrder
    target_sum: float = 1e4
    scale_max_value: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Graph contrastive training hyperparameters.

    Attributes
    ----------
    seed
        torch and numpy seed.
    python_seed
        Seed of Python's ``random`` module (STAIG: 12345).
    lr
        Adam learning rate.
    weight_decay
        Adam weight decay.
    n_epochs
        Training epochs.
    gcn_layers
        GCNConv layers of the encoder.
    hidden_dim
        Encoder output width.
    proj_dim
        Projection head hidden width.
    temperature
        Softmax temperature tau of the contrastive loss.
    feature_drop
        Probability of zeroing a gene column, per view.
    """

    seed: int
    lr: float
    weight_decay: float
    n_epochs: int
    gcn_layers: int
    hidden_dim: int
    proj_dim: int
    temperature: float
    feature_drop: tuple[float, float]
    python_seed: int = 12345

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class ClusterConfig:
    """Domain clustering and the spatial refinement after it.

    Attributes
    ----------
    n_clusters
        Number of domains.
    policy
        ``"mclust_required"`` raises when R or mclust cannot be imported;
        ``"mclust_if_importable"`` is the legacy behaviour.
    mclust_model
        mclust covariance model name (STAIG: ``"EEE"``).
    r_seed
        ``set.seed`` value before ``Mclust`` (STAIG: 2023).
    refine_neighbours
        Spatial neighbours of the majority vote (STAIG calls it radius: 15).
    validate_embedding
        Check the embedding before handing it to R.
    """

    n_clusters: int
    policy: ClusterPolicy
    validate_embedding: bool
    mclust_model: str = "EEE"
    r_seed: int = 2023
    refine_neighbours: int = 15


@dataclass(frozen=True)
class StaigFusionConfig:
    """Every setting of one ``staig_fusion`` run.

    Attributes
    ----------
    profile
        ``"legacy"`` or ``"strict"``.
    preset
        ``"staig"``, ``"quick"`` or ``"quick-encoders"``.
    slice_name
        Name of the per-slice hyperparameter set the run uses.
    patches, encoder, genes, train, cluster
        Settings of each pipeline part.
    n_neighbours
        Spatial kNN neighbours per spot of the training graph.
    n_pseudo_labels
        KMeans clusters of the image pseudo-labels.
    pseudo_label_seed
        KMeans ``random_state`` of the pseudo-labels.
    pca_components
        Width of the image embedding after PCA (STAIG: 16).
    pca_seed
        PCA ``random_state`` (STAIG: 42).
    reductions
        Quick-preset changes: setting name to ``{"configured", "used"}``.
    """

    profile: Profile
    preset: str
    slice_name: str
    patches: PatchConfig
    encoder: EncoderConfig
    genes: GeneConfig
    train: TrainConfig
    cluster: ClusterConfig
    n_neighbours: int
    n_pseudo_labels: int
    pseudo_label_seed: int = 0
    pca_components: int = 16
    pca_seed: int = 42
    reductions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        """Return the fields every stage config starts with."""
        return {"profile": self.profile, "preset": self.preset, "slice_name": self.slice_name}
