"""STAIG's graph contrastive training, seeded and deterministic.

:func:`train_staig` seeds torch and numpy with the slice's seed and Python's
``random`` with 12345, as STAIG's 151673 notebook does, turns on
deterministic algorithms, builds the model, and trains it with Adam on two
augmented views per epoch. It restores the previous RNG states and
determinism settings when it returns, so later stages in the same process
see the same global state as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

from harness.errors import InputError
from reference.model.encoder import ContrastiveModel, build_model
from reference.model.loss import NeighbourGraph, neighbour_contrastive_loss, neighbour_graph
from reference.model.views import UndirectedEdges, draw_views, drop_features, undirected_edges

logger = logging.getLogger(__name__)

PYTHON_RANDOM_SEED = 12345
"""Seed of Python's ``random`` module: STAIG's 151673 notebook calls ``random.seed(12345)``."""

CUBLAS_WORKSPACE_CONFIG = ":4096:8"
"""cuBLAS workspace setting that makes CUDA matrix products deterministic (STAIG's notebook value)."""

Device = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (STAIG's config keys).

    Attributes
    ----------
    seed
        Seed of torch and numpy (39788 for slice 151673).
    learning_rate, weight_decay
        Adam settings (5e-4 and 1e-5 for 151673).
    num_epochs
        Training epochs (300 published, 60 in the quick preset).
    num_hidden, num_proj_hidden, num_layers
        Model widths and GCN depth (64, 64, 1 for 151673).
    activation, base_model
        Activation (``"prelu"`` or ``"relu"``) and GCN layer type (``"GCNConv"``).
    drop_feature_rate_1, drop_feature_rate_2
        Probability of zeroing each gene column in view 1 and view 2 (0.1, 0.2).
    tau
        Temperature of the loss (35 for 151673).
    python_seed
        Seed of Python's ``random``, default :data:`PYTHON_RANDOM_SEED`.
    """

    seed: int
    learning_rate: float
    weight_decay: float
    num_epochs: int
    num_hidden: int
    num_proj_hidden: int
    num_layers: int
    activation: str
    base_model: str
    drop_feature_rate_1: float
    drop_feature_rate_2: float
    tau: float
    python_seed: int = PYTHON_RANDOM_SEED

    def __post_init__(self) -> None:
        problems = []
        if self.num_epochs < 1:
            problems.append(f"num_epochs must be at least 1, got {self.num_epochs}")
        if not self.tau > 0:
            problems.append(f"tau must be positive, got {self.tau}")
        for name in ("drop_feature_rate_1", "drop_feature_rate_2"):
            rate = getattr(self, name)
            if not 0 <= rate <= 1:
                problems.append(f"{name} must lie in [0, 1], got {rate}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            problems.append(
                f"learning_rate must be positive and weight_decay non-negative, got "
                f"{self.learning_rate} and {self.weight_decay}"
            )
        if problems:
            msg = "invalid training settings: " + "; ".join(problems)
            raise InputError(msg)

    @classmethod
    def from_hyper(cls, hyper: Mapping[str, Any]) -> TrainSettings:
        """Read the settings from a resolved ``hyper`` mapping, raising InputError on missing keys."""
        names = [name for name in cls.__dataclass_fields__ if name != "python_seed"]
        missing = [name for name in names if name not in hyper]
        if missing:
            msg = (
                f"training hyperparameters {missing} are missing from the slice config; "
                f"it has {sorted(hyper)}"
            )
            raise InputError(msg)
        return cls(**{name: hyper[name] for name in names})

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """Output of :func:`train_staig`.

    Attributes
    ----------
    emb
        ``(n_obs, num_hidden)`` float64: model output, projection head
        included, on the full graph with all genes, after the last epoch.
    loss
        ``(num_epochs,)`` float64: the loss of each epoch, before its Adam step.
    determinism
        Seeds and determinism settings that were in force.
    elapsed_s
        Wall-clock training time in seconds.
    """

    emb: np.ndarray
    loss: np.ndarray
    determinism: dict[str, Any]
    elapsed_s: float


@contextlib.contextmanager
def seeded_deterministic(
    *, seed: int, python_seed: int, device: Device, warn_only: bool = False
) -> Iterator[dict[str, Any]]:
    """Seed torch, numpy and ``random`` and turn on deterministic algorithms, then restore.

    Yields the settings in force, for the stage config. On CUDA this also
    sets ``CUBLAS_WORKSPACE_CONFIG`` (left set afterwards, because cuBLAS
    reads it when a handle is created) and cuDNN's deterministic mode.
    ``warn_only`` makes operations without a deterministic kernel warn
    instead of raise.
    """
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    cuda_devices = list(range(torch.cuda.device_count())) if device == "cuda" else []
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(python_seed)
            torch.use_deterministic_algorithms(True, warn_only=warn_only)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            yield {
                "torch_seed": seed,
                "numpy_seed": seed,
                "python_random_seed": python_seed,
                "deterministic_algorithms": "warn only" if warn_only else True,
                "cudnn_deterministic": True,
                "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")
                if device == "cuda"
                else None,
                "random_draws": "torch default CPU generator",
            }
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_flags
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def as_staig_float64(values: np.ndarray) -> torch.Tensor:
    """Round ``values`` to float32, then widen to float64, on the CPU.

    STAIG loads ``feat`` and the edge probabilities with
    ``torch.FloatTensor(...).double()``, so its model receives float32-rounded
    inputs in float64. For float32 inputs the conversion is exact.
    """
    return torch.from_numpy(np.ascontiguousarray(values)).to(torch.float32).to(torch.float64)


def validate_training_inputs(
    feat: np.ndarray, edges: np.ndarray, edge_prob: np.ndarray, pseudo_labels: np.ndarray
) -> None:
    """Check shapes, dtypes and the graph invariants the view draws rely on.

    Raises
    ------
    InputError
        When ``feat`` is not a finite, non-empty ``(n_obs, n_vars)`` float
        matrix. When ``edges`` is not ``(2, n_edges)`` integers in ``[0,
        n_obs)``, sorted by (source, target), duplicate-free, without
        self-loops and symmetric. When ``edge_prob`` is not ``(n_edges,)`` in
        ``[0, 1]``. When ``pseudo_labels`` is not ``(n_obs,)`` integers with
        at least two distinct values, because with one value every negative
        sum is empty and the loss is NaN.
    """
    if feat.ndim != 2 or feat.shape[0] == 0 or feat.shape[1] == 0:
        msg = f"genes/feat must be a non-empty (n_obs, n_vars) matrix, got shape {feat.shape}"
        raise InputError(msg)
    if feat.dtype.kind != "f" or not np.isfinite(feat).all():
        n_bad = int((~np.isfinite(feat)).sum()) if feat.dtype.kind == "f" else feat.size
        msg = f"genes/feat must be finite floats; dtype {feat.dtype}, {n_bad} non-finite entries"
        raise InputError(msg)
    n_obs = feat.shape[0]

    if edges.ndim != 2 or edges.shape[0] != 2 or edges.dtype.kind not in "iu":
        msg = f"graph/edges must be a (2, n_edges) integer array, got shape {edges.shape}, dtype {edges.dtype}"
        raise InputError(msg)
    source, target = edges.astype(np.int64)
    if source.size and (min(source.min(), target.min()) < 0 or max(source.max(), target.max()) >= n_obs):
        msg = f"graph/edges has node indices outside [0, {n_obs}), the number of spots in genes/feat"
        raise InputError(msg)
    keys = source * n_obs + target
    if np.any(np.diff(keys) <= 0):
        msg = "graph/edges must be sorted by (source, target) without duplicates; sort it and drop repeats"
        raise InputError(msg)
    n_self = int((source == target).sum())
    if n_self:
        msg = f"graph/edges contains {n_self} self-loops; the spatial graph must have none"
        raise InputError(msg)
    reverse = np.sort(target * n_obs + source)
    if not np.array_equal(reverse, keys):
        n_missing = int(np.setdiff1d(keys, reverse, assume_unique=True).size)
        msg = f"graph/edges is not symmetric: {n_missing} edges lack their reverse direction"
        raise InputError(msg)

    if edge_prob.shape != (edges.shape[1],):
        msg = f"edge_probabilities/edge_prob must have shape ({edges.shape[1]},), got {edge_prob.shape}"
        raise InputError(msg)
    out_of_range = ~((edge_prob >= 0) & (edge_prob <= 1))
    if out_of_range.any():
        msg = (
            f"edge_probabilities/edge_prob must lie in [0, 1]; {int(out_of_range.sum())} "
            "values are outside or NaN"
        )
        raise InputError(msg)

    if pseudo_labels.shape != (n_obs,) or pseudo_labels.dtype.kind not in "iu":
        msg = (
            f"pseudo_labels/pseudo_labels must be ({n_obs},) integers, got shape "
            f"{pseudo_labels.shape}, dtype {pseudo_labels.dtype}"
        )
        raise InputError(msg)
    if np.unique(pseudo_labels).size < 2:
        msg = "pseudo_labels/pseudo_labels has a single value, so the loss has no negatives; use k >= 2"
        raise InputError(msg)


def training_step(
    model: ContrastiveModel,
    optimizer: torch.optim.Optimizer,
    *,
    features: torch.Tensor,
    undirected: UndirectedEdges,
    graph: NeighbourGraph,
    pseudo_labels: torch.Tensor,
    settings: TrainSettings,
) -> torch.Tensor:
    """Run one epoch: draw the views, compute the loss, back-propagate, step Adam.

    Returns the loss (a detached scalar tensor) computed before the step.
    """
    device = features.device
    model.train()
    optimizer.zero_grad()
    views = draw_views(
        undirected,
        n_vars=features.shape[1],
        drop_feature_rate_1=settings.drop_feature_rate_1,
        drop_feature_rate_2=settings.drop_feature_rate_2,
    )
    z1 = model(drop_features(features, views.feature_drop_1), views.edges_1.to(device))
    z2 = model(drop_features(features, views.feature_drop_2), views.edges_2.to(device))
    loss = neighbour_contrastive_loss(
        z1, z2, graph=graph, pseudo_labels=pseudo_labels, tau=settings.tau
    )
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_staig(
    feat: np.ndarray,
    edges: np.ndarray,
    edge_prob: np.ndarray,
    pseudo_labels: np.ndarray,
    *,
    settings: TrainSettings,
    device: Device,
) -> TrainResult:
    """Train STAIG's model and return the final embedding and per-epoch losses.

    Parameters
    ----------
    feat
        ``(n_obs, n_vars)`` float gene features (``genes/feat``).
    edges
        ``(2, n_edges)`` symmetric spatial graph sorted by (source, target) (``graph/edges``).
    edge_prob
        ``(n_edges,)`` drop probability per directed edge. The view draws use
        the probability of ``(i, j)`` with ``i < j``, from row ``i``.
    pseudo_labels
        ``(n_obs,)`` integer image pseudo-labels.
    settings
        Hyperparameters.
    device
        ``"cpu"`` or ``"cuda"``. Random draws always use the CPU generator.

    Raises
    ------
    InputError
        On invalid inputs (see :func:`validate_training_inputs`).
    RuntimeError
        When an epoch's loss is not finite.
    """
    feat = np.asarray(feat)
    edges = np.asarray(edges)
    edge_prob = np.asarray(edge_prob, dtype=np.float64)
    pseudo_labels = np.asarray(pseudo_labels)
    validate_training_inputs(feat, edges, edge_prob, pseudo_labels)
    n_obs, n_vars = feat.shape

    edges_cpu = torch.from_numpy(edges.astype(np.int64))
    undirected = undirected_edges(edges_cpu, as_staig_float64(edge_prob))
    graph = neighbour_graph(edges_cpu, n_obs=n_obs).to(device)
    features = as_staig_float64(feat).to(device)
    labels = torch.from_numpy(pseudo_labels.astype(np.int64)).to(device)
    full_edges = edges_cpu.to(device)

    logger.info(
        "training start: %d spots, %d genes, %d undirected edges, %d epochs on %s",
        n_obs, n_vars, undirected.n_undirected, settings.num_epochs, device,
    )
    start = time.perf_counter()
    with seeded_deterministic(
        seed=settings.seed, python_seed=settings.python_seed, device=device
    ) as determinism:
        model = build_model(
            in_channels=n_vars,
            num_hidden=settings.num_hidden,
            num_proj_hidden=settings.num_proj_hidden,
            num_layers=settings.num_layers,
            activation=settings.activation,
            base_model=settings.base_model,
        ).to(device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        losses = torch.empty(settings.num_epochs, dtype=torch.float64)
        for epoch in range(settings.num_epochs):
            loss = training_step(
                model,
                optimizer,
                features=features,
                undirected=undirected,
                graph=graph,
                pseudo_labels=labels,
                settings=settings,
            )
            losses[epoch] = loss.cpu()
            if not torch.isfinite(loss):
                msg = f"training loss is {loss.item()} at epoch {epoch + 1} of {settings.num_epochs}"
                raise RuntimeError(msg)
            logger.debug("epoch %d loss %.6f", epoch + 1, loss.item())

        model.eval()
        with torch.no_grad():
            emb = model(features, full_edges).cpu().numpy()
    elapsed = time.perf_counter() - start
    logger.info("training finished in %.1f s, final loss %.6f", elapsed, float(losses[-1]))
    return TrainResult(
        emb=np.ascontiguousarray(emb, dtype=np.float64),
        loss=losses.numpy(),
        determinism=determinism,
        elapsed_s=elapsed,
    )
