"""The stage contract: every stage, in order, with the artifacts it reads and writes.

Both sides (the STAIG reference, a candidate, or an artifact folder written by
another pipeline) exchange data only through the artifacts named here. The
names, shapes and meanings follow the artifact contract documented in the
README's "Artifact folder" section. Symbolic dimensions are bound once per run:

``N``
    spots kept after loading (``load/barcodes``).
``G``
    genes in the count matrix (``load/genes``).
``E``
    directed edges of the spatial graph (``graph/edges``).

Other symbols (``S`` patch side in px, ``D`` feature width, ``H`` number of
highly variable genes, ``T`` training epochs, ``K`` embedding width) are free
but must be consistent within one stage's outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

ArtifactKind = Literal["array", "sparse", "json"]
"""Storage kind: a dense numpy array (``.npy``), a scipy CSR matrix (``.npz``) or JSON."""

DtypeFamily = Literal["float", "int", "uint8", "str", "bool"]


@dataclass(frozen=True)
class ArtifactSpec:
    """One artifact that a stage writes.

    Attributes
    ----------
    name
        Artifact name, unique within its stage, e.g. ``"centers"``.
    kind
        Storage kind, see :data:`ArtifactKind`.
    shape
        Symbolic shape, e.g. ``("N", 2)``; ``None`` for JSON artifacts.
    dtypes
        Accepted dtype families; ``"float"`` accepts float32 and float64.
    description
        Meaning, units and frame, as shown in reports.
    optional
        Whether a side may omit it (``load/labels`` when a slice has no truth).
    """

    name: str
    kind: ArtifactKind
    shape: tuple[str | int, ...] | None
    dtypes: tuple[DtypeFamily, ...]
    description: str
    optional: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One pipeline stage: the artifacts it reads (``stage/artifact``) and writes."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[ArtifactSpec, ...]
    description: str
    stochastic: bool = False
    needs_data_folder: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def artifact(self, name: str) -> ArtifactSpec:
        """Return the spec of the artifact ``name`` written by this stage."""
        for spec in self.writes:
            if spec.name == name:
                return spec
        msg = f"stage {self.name!r} writes no artifact {name!r}; it writes {self.artifact_names()}"
        raise KeyError(msg)

    def artifact_names(self) -> list[str]:
        """Return the names of the artifacts this stage writes, in declaration order."""
        return [spec.name for spec in self.writes]


def _config() -> ArtifactSpec:
    return ArtifactSpec(
        "config", "json", None, (), "effective hyperparameters and settings the stage used"
    )


def _array(
    name: str,
    shape: tuple[str | int, ...],
    dtypes: tuple[DtypeFamily, ...],
    description: str,
    *,
    optional: bool = False,
) -> ArtifactSpec:
    return ArtifactSpec(name, "array", shape, dtypes, description, optional=optional)


def _json(name: str, description: str) -> ArtifactSpec:
    return ArtifactSpec(name, "json", None, (), description)


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "load",
        reads=(),
        writes=(
            _array("barcodes", ("N",), ("str",), "spot order used by every later artifact"),
            _array("spatial", ("N", 2), ("float",), "(x, y) spot centres in full-resolution px"),
            _array(
                "labels", ("N",), ("str",), "ground-truth domain per spot", optional=True
            ),
            _array("genes", ("G",), ("str",), "gene names, unique, in count-matrix column order"),
            ArtifactSpec(
                "counts", "sparse", ("N", "G"), ("float", "int"), "raw UMI counts, spots × genes"
            ),
            _json("scalefactors", "the slice's scale factors as read, and its image levels"),
            _config(),
        ),
        description="read the Space Ranger folder, join labels by barcode",
        needs_data_folder=True,
    ),
    StageSpec(
        "patches",
        reads=("load/barcodes", "load/spatial", "load/scalefactors"),
        writes=(
            _array("centers", ("N", 2), ("float",), "window centres in px of the image level used"),
            _array("boxes", ("N", 4), ("int",), "left, top, right, bottom in px of that level"),
            _json("image_level", "level name, its scale factor, image shape, padded windows"),
            _array("patches", ("N", "S", "S", 3), ("uint8",), "resized RGB windows"),
            _config(),
        ),
        description="cut one window per spot from the histology image",
        needs_data_folder=True,
    ),
    StageSpec(
        "patch_filter",
        reads=("patches/patches",),
        writes=(
            _array("filtered", ("N", "S", "S", 3), ("uint8",), "filtered RGB windows"),
            _config(),
        ),
        description="frequency-domain filter of each window",
    ),
    StageSpec(
        "image_features",
        reads=("patch_filter/filtered",),
        writes=(
            _array("features", ("N", "D"), ("float",), "encoder output per spot"),
            _json(
                "encoder",
                "requested and actual architecture, parameter count, weights digest, input size",
            ),
            _config(),
        ),
        description="encode each window with the image encoder",
        stochastic=True,
    ),
    StageSpec(
        "image_embedding",
        reads=("image_features/features",),
        writes=(
            _array("img_emb", ("N", 16), ("float",), "image features after scaling and PCA"),
            _config(),
        ),
        description="standardise the image features and reduce them with PCA",
    ),
    StageSpec(
        "genes",
        reads=("load/counts", "load/genes"),
        writes=(
            _array("hvg", ("H",), ("str",), "selected genes, in matrix column order"),
            _array("feat", ("N", "H"), ("float",), "model input features"),
            _config(),
        ),
        description="highly variable genes and normalised expression",
    ),
    StageSpec(
        "graph",
        reads=("load/spatial",),
        writes=(
            _array(
                "edges", (2, "E"), ("int",), "directed edges sorted by (source, target), symmetric"
            ),
            _config(),
        ),
        description="k-nearest-neighbour spatial graph",
    ),
    StageSpec(
        "edge_probabilities",
        reads=("graph/edges", "image_embedding/img_emb"),
        writes=(
            _array("edge_prob", ("E",), ("float",), "drop probability per edge, aligned with edges"),
            _config(),
        ),
        description="edge drop probabilities from image-embedding distances",
    ),
    StageSpec(
        "pseudo_labels",
        reads=("image_embedding/img_emb",),
        writes=(
            _array("pseudo_labels", ("N",), ("int",), "image pseudo-labels"),
            _config(),
        ),
        description="KMeans pseudo-labels on the image embedding",
    ),
    StageSpec(
        "train",
        reads=(
            "genes/feat",
            "graph/edges",
            "edge_probabilities/edge_prob",
            "pseudo_labels/pseudo_labels",
        ),
        writes=(
            _array("emb", ("N", "K"), ("float",), "final spot embedding"),
            _array("loss", ("T",), ("float",), "training loss per epoch"),
            _config(),
        ),
        description="graph contrastive training",
        stochastic=True,
    ),
    StageSpec(
        "cluster",
        reads=("train/emb",),
        writes=(
            _array("domains", ("N",), ("str",), "cluster label per spot before refinement"),
            _json("backend", "clustering algorithm actually run, its version and settings"),
            _config(),
        ),
        description="cluster the embedding into domains",
        stochastic=True,
    ),
    StageSpec(
        "refine",
        reads=("cluster/domains", "load/spatial"),
        writes=(
            _array("refined", ("N",), ("str",), "domain per spot after spatial smoothing"),
            _config(),
        ),
        description="majority vote over spatial neighbours",
    ),
    StageSpec(
        "metrics",
        reads=("refine/refined", "cluster/domains", "load/labels", "load/barcodes"),
        writes=(
            _json("scores", "ARI and NMI against the ground truth, and their inputs"),
            _config(),
        ),
        description="agreement of the domains with the ground truth",
    ),
)

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
_BY_NAME = {stage.name: stage for stage in STAGES}


def get_stage(name: str) -> StageSpec:
    """Return the spec of stage ``name``; raise ``KeyError`` listing the valid names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        msg = f"unknown stage {name!r}; valid stages, in order: {', '.join(STAGE_NAMES)}"
        raise KeyError(msg) from None


def stages_until(until: str | None) -> tuple[StageSpec, ...]:
    """Return the stages from ``load`` up to and including ``until`` (all when ``None``)."""
    if until is None:
        return STAGES
    index = STAGE_NAMES.index(get_stage(until).name)
    return STAGES[: index + 1]


def upstream_closure(stage: str) -> tuple[StageSpec, ...]:
    """Return the stages that ``stage`` depends on, transitively, plus itself, in order."""
    needed = {stage}
    for spec in reversed(STAGES):
        if spec.name in needed:
            needed.update(read.split("/", 1)[0] for read in spec.reads)
    return tuple(spec for spec in STAGES if spec.name in needed)


def downstream_of(stage: str) -> tuple[StageSpec, ...]:
    """Return the stages that read, directly or transitively, what ``stage`` writes."""
    tainted = {get_stage(stage).name}
    result: list[StageSpec] = []
    for spec in STAGES:
        if any(read.split("/", 1)[0] in tainted for read in spec.reads):
            tainted.add(spec.name)
            result.append(spec)
    return tuple(result)


def iter_artifacts() -> Iterator[tuple[StageSpec, ArtifactSpec]]:
    """Yield every (stage, artifact) pair of the contract in pipeline order."""
    for stage in STAGES:
        for artifact in stage.writes:
            yield stage, artifact
