"""Explain a gene-preprocessing divergence by reproducing it.

STAIG's order (the reference) is: highly variable genes with scanpy's
``seurat_v3`` flavor on the raw counts of all genes (flags only), then
``normalize_total(target_sum=1e4)``, ``log1p`` and ``scale(zero_center=False,
max_value=10)`` over all genes, then the flagged columns. A re-implementation
may differ in one of these steps. Each :class:`GeneHypothesis` reruns the
preprocessing with scanpy on the reference's ``load/counts`` with one or two
steps changed, and the hypothesis whose HVG list and matrix equal the
candidate's names the difference. A description of the candidate is never
trusted: only a reproduction counts.

The hypotheses share their expensive steps (each HVG selection and the
log-normalised matrix are computed once), and a result is cached per content
of the artifacts it reads, so ``genes.hvg`` and ``genes.matrix`` pay once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from harness.errors import InputError

logger = logging.getLogger(__name__)

HvgSelection = Literal["seurat_v3_raw", "seurat_lognorm", "cell_ranger_lognorm"]
"""Matrix and scanpy flavor that select the highly variable genes."""

TARGET_SUM = 1e4
"""``normalize_total`` target per spot in STAIG's preprocessing."""

SCALE_MAX_VALUE = 10.0
"""``scale`` clip in STAIG's preprocessing."""

REPRODUCE_RTOL = 1e-4
"""Relative tolerance for "reproduces the candidate's matrix".

Documented default: float32 round-off of values up to 10 is about 1e-6, so
1e-4 accepts another accumulation order or a float64 pipeline, while the
hypotheses differ from each other by 1e-2 or more."""

REPRODUCE_ATOL = 1e-4
"""Absolute tolerance for "reproduces the candidate's matrix", see :data:`REPRODUCE_RTOL`."""

_CACHE_SIZE = 4


@dataclass(frozen=True)
class GeneHypothesis:
    """One way of computing ``hvg`` and ``feat`` from raw counts.

    Attributes
    ----------
    name
        Identifier, e.g. ``"subset_first"``.
    explanation
        What the candidate does if this hypothesis reproduces it; ``{n}`` is
        replaced by the number of highly variable genes.
    selection
        How the highly variable genes are selected, see :data:`HvgSelection`.
    subset_first
        Subset the counts to the selected genes before normalising (library
        sizes then count those genes only).
    log1p
        Apply ``log1p`` between ``normalize_total`` and ``scale``.
    zero_center
        ``zero_center`` argument of ``scanpy.pp.scale``.
    max_value
        ``max_value`` argument of ``scanpy.pp.scale``; ``None`` for no clipping.
    """

    name: str
    explanation: str
    selection: HvgSelection = "seurat_v3_raw"
    subset_first: bool = False
    log1p: bool = True
    zero_center: bool = False
    max_value: float | None = SCALE_MAX_VALUE


REFERENCE_ORDER = GeneHypothesis(
    name="reference_order",
    explanation=(
        "the candidate follows STAIG's order (seurat_v3 HVGs flagged on raw counts, all genes "
        "normalised, log1p, scale with zero_center=False and max_value=10)"
    ),
)

_STAIG = "STAIG flags HVGs on raw counts and normalises all genes"

HYPOTHESES: tuple[GeneHypothesis, ...] = (
    REFERENCE_ORDER,
    GeneHypothesis(
        name="subset_first",
        explanation=(
            "the candidate subsets to the {n} HVGs before normalize_total/log1p/scale (library "
            f"sizes from HVG counts only); {_STAIG}"
        ),
        subset_first=True,
    ),
    GeneHypothesis(
        name="hvg_seurat_lognorm",
        explanation=(
            "the candidate selects HVGs with flavor 'seurat' on the log-normalised matrix; STAIG "
            "flags them with 'seurat_v3' on raw counts"
        ),
        selection="seurat_lognorm",
    ),
    GeneHypothesis(
        name="hvg_cell_ranger_lognorm",
        explanation=(
            "the candidate selects HVGs with flavor 'cell_ranger' on the log-normalised matrix; "
            "STAIG flags them with 'seurat_v3' on raw counts"
        ),
        selection="cell_ranger_lognorm",
    ),
    GeneHypothesis(
        name="hvg_seurat_lognorm_subset_first",
        explanation=(
            "the candidate selects HVGs with flavor 'seurat' on the log-normalised matrix and "
            "subsets to those {n} genes before normalize_total/log1p/scale (library sizes from HVG "
            f"counts only); {_STAIG} with 'seurat_v3'"
        ),
        selection="seurat_lognorm",
        subset_first=True,
    ),
    GeneHypothesis(
        name="hvg_cell_ranger_lognorm_subset_first",
        explanation=(
            "the candidate selects HVGs with flavor 'cell_ranger' on the log-normalised matrix and "
            "subsets to those {n} genes before normalize_total/log1p/scale (library sizes from HVG "
            f"counts only); {_STAIG} with 'seurat_v3'"
        ),
        selection="cell_ranger_lognorm",
        subset_first=True,
    ),
    GeneHypothesis(
        name="no_log1p",
        explanation=(
            "the candidate skips log1p between normalize_total and scale; STAIG log-transforms "
            "before scaling"
        ),
        log1p=False,
    ),
    GeneHypothesis(
        name="zero_center",
        explanation=(
            "the candidate centres each gene when scaling (scale with zero_center=True); STAIG "
            "scales with zero_center=False"
        ),
        zero_center=True,
    ),
    GeneHypothesis(
        name="no_clip",
        explanation=(
            "the candidate does not clip scaled values (scale without max_value); STAIG clips at "
            "max_value=10"
        ),
        max_value=None,
    ),
)
"""Every hypothesis tried, STAIG's own order first (the control)."""


@dataclass(frozen=True)
class HypothesisScore:
    """Agreement of one hypothesis' output with a side's ``hvg`` and ``feat``.

    Attributes
    ----------
    name
        The hypothesis' name.
    explanation
        Its explanation with the gene count filled in.
    hvg_jaccard
        Jaccard index of the hypothesis' HVG set and the side's.
    n_common_genes
        Genes in both sets.
    max_abs_error
        Largest ``|hypothesis - side|`` of ``feat`` over common genes and aligned
        spots; ``None`` when no gene is common.
    fraction_differing
        Fraction of those elements outside the reproduction tolerance.
    """

    name: str
    explanation: str
    hvg_jaccard: float
    n_common_genes: int
    max_abs_error: float | None
    fraction_differing: float | None

    @property
    def reproduces_hvg(self) -> bool:
        """Whether the HVG sets are equal."""
        return self.hvg_jaccard == 1.0

    @property
    def reproduces(self) -> bool:
        """Whether both the HVG set and every ``feat`` element are reproduced."""
        return self.reproduces_hvg and self.fraction_differing == 0.0

    def to_json(self) -> dict[str, Any]:
        """Return the score as a JSON-compatible dict."""
        return {
            "hypothesis": self.name,
            "hvg_jaccard": self.hvg_jaccard,
            "n_common_genes": self.n_common_genes,
            "max_abs_error": self.max_abs_error,
            "fraction_differing": self.fraction_differing,
            "reproduces": self.reproduces,
        }


@dataclass(frozen=True)
class HypothesisReport:
    """Scores of every hypothesis against the candidate, plus the control against the reference.

    Attributes
    ----------
    scores
        One score per hypothesis, in :data:`HYPOTHESES` order.
    n_top_genes
        Number of highly variable genes the hypotheses selected (the candidate's count).
    control
        STAIG's order scored against the reference's own output, ``None`` when
        the reference's ``hvg`` and ``feat`` were not given.
    elapsed_s
        Time the hypotheses took, in seconds.
    """

    scores: tuple[HypothesisScore, ...]
    n_top_genes: int
    control: HypothesisScore | None
    elapsed_s: float

    def reproducing(self) -> list[HypothesisScore]:
        """Return the hypotheses that reproduce both ``hvg`` and ``feat``."""
        return [score for score in self.scores if score.reproduces]

    def closest(self) -> HypothesisScore:
        """Return the best score: highest HVG Jaccard, then smallest matrix error."""
        return min(
            self.scores,
            key=lambda score: (
                -score.hvg_jaccard,
                score.fraction_differing if score.fraction_differing is not None else np.inf,
                score.max_abs_error if score.max_abs_error is not None else np.inf,
            ),
        )

    def diagnosis(self, *, artifact: Literal["hvg", "feat"]) -> str:
        """Return the sentence naming the hypothesis that reproduces the candidate.

        Parameters
        ----------
        artifact
            ``"hvg"`` words the result for ``genes.hvg`` (a hypothesis that
            reproduces the HVG set alone is named), ``"feat"`` for ``genes.matrix``.
        """
        found = self.reproducing()
        if found:
            text = _reproduced_text(found)
        elif artifact == "hvg" and any(score.reproduces_hvg for score in self.scores):
            hvg_only = [score for score in self.scores if score.reproduces_hvg]
            best = hvg_only[0]
            text = (
                f"the candidate's HVGs are reproduced by: {best.explanation}; its feat is not "
                f"(max abs error {_format_error(best.max_abs_error)})"
            )
        else:
            best = self.closest()
            text = (
                f"no hypothesis reproduces the candidate's genes from the reference's counts; "
                f"closest: {best.name} (HVG Jaccard {best.hvg_jaccard:.4f}, max abs error "
                f"{_format_error(best.max_abs_error)} over {best.n_common_genes} common genes)"
            )
        if self.control is not None and not self.control.reproduces:
            text += (
                "; note: STAIG's order recomputed here does not reproduce the reference's own "
                f"output (HVG Jaccard {self.control.hvg_jaccard:.4f}, max abs error "
                f"{_format_error(self.control.max_abs_error)}), so these hypotheses may not apply"
            )
        return text

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-compatible dict."""
        return {
            "n_top_genes": self.n_top_genes,
            "hypotheses": [score.to_json() for score in self.scores],
            "control_against_reference": self.control.to_json() if self.control else None,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _reproduced_text(found: list[HypothesisScore]) -> str:
    first = found[0]
    if first.name == REFERENCE_ORDER.name:
        return (
            "the candidate matches STAIG's order recomputed from the reference's counts, so the "
            "reference's stored output differs from its own recomputation (check the reference "
            "run's inputs and scanpy version)"
        )
    text = (
        f"{first.explanation} (reproduced from the reference's counts: HVG Jaccard 1, max abs "
        f"error {_format_error(first.max_abs_error)} over {first.n_common_genes} genes)"
    )
    if len(found) > 1:
        text += "; also reproduced by: " + ", ".join(score.name for score in found[1:])
    return text


def _format_error(value: float | None) -> str:
    return "undefined (no common genes)" if value is None else f"{value:.3g}"


# -- computing the hypotheses ---------------------------------------------------


def run_hypotheses(
    counts: Any,
    genes: Any,
    *,
    n_top_genes: int,
    hypotheses: tuple[GeneHypothesis, ...] = HYPOTHESES,
) -> Iterator[tuple[GeneHypothesis, np.ndarray, np.ndarray]]:
    """Compute ``hvg`` and ``feat`` under each hypothesis, one at a time.

    Parameters
    ----------
    counts
        Shape ``(n_obs, n_vars)``: raw UMI counts (scipy sparse or dense), cast
        to float32 as scanpy's 10x reader stores them.
    genes
        Shape ``(n_vars,)``: gene names, in column order.
    n_top_genes
        Number of highly variable genes to select, ``1 <= n_top_genes <= n_vars``.
    hypotheses
        The hypotheses to run, default :data:`HYPOTHESES`.

    Yields
    ------
    hypothesis, hvg, feat
        ``hvg`` ``(n_hvg,)`` str in column order, ``feat`` ``(n_obs, n_hvg)``
        float (dense). Each ``feat`` is yielded and then released, so only one
        is held at a time.

    Raises
    ------
    InputError
        When shapes disagree or ``n_top_genes`` is out of range.
    """
    matrix = sp.csr_matrix(counts, dtype=np.float32)
    names = np.asarray(genes).astype(str)
    if names.shape != (matrix.shape[1],):
        msg = f"genes has shape {names.shape}, but counts has {matrix.shape[1]} columns"
        raise InputError(msg)
    if not 1 <= n_top_genes <= matrix.shape[1]:
        msg = f"n_top_genes is {n_top_genes}; expected 1 to {matrix.shape[1]} (the number of genes)"
        raise InputError(msg)
    matrix.sort_indices()
    steps = _SharedSteps(matrix, n_top_genes=n_top_genes)
    for hypothesis in hypotheses:
        flags = steps.flags(hypothesis.selection)
        if hypothesis.subset_first:
            normalised = _normalise(matrix[:, flags], log1p=hypothesis.log1p)
        else:
            normalised = (steps.lognorm() if hypothesis.log1p else steps.normalised())[:, flags]
        yield hypothesis, names[flags], _scale(normalised, hypothesis)


class _SharedSteps:
    """The steps several hypotheses share, each computed on first use."""

    def __init__(self, counts: sp.csr_matrix, *, n_top_genes: int) -> None:
        self.counts = counts
        self.n_top_genes = n_top_genes
        self._flags: dict[str, np.ndarray] = {}
        self._normalised: sp.csr_matrix | None = None
        self._lognorm: sp.csr_matrix | None = None

    def normalised(self) -> sp.csr_matrix:
        if self._normalised is None:
            self._normalised = sc.pp.normalize_total(
                ad.AnnData(self.counts), target_sum=TARGET_SUM, inplace=False
            )["X"]
        return self._normalised

    def lognorm(self) -> sp.csr_matrix:
        if self._lognorm is None:
            self._lognorm = sc.pp.log1p(self.normalised(), copy=True)
        return self._lognorm

    def flags(self, selection: HvgSelection) -> np.ndarray:
        if selection not in self._flags:
            if selection == "seurat_v3_raw":
                data, flavor = self.counts, "seurat_v3"
            else:
                data, flavor = self.lognorm(), selection.removesuffix("_lognorm")
            table = sc.pp.highly_variable_genes(
                ad.AnnData(data), flavor=flavor, n_top_genes=self.n_top_genes, inplace=False
            )
            self._flags[selection] = table["highly_variable"].to_numpy(dtype=bool)
        return self._flags[selection]


def _normalise(counts: sp.csr_matrix, *, log1p: bool) -> sp.csr_matrix:
    normalised = sc.pp.normalize_total(ad.AnnData(counts), target_sum=TARGET_SUM, inplace=False)[
        "X"
    ]
    return sc.pp.log1p(normalised, copy=True) if log1p else normalised


def _scale(matrix: sp.csr_matrix, hypothesis: GeneHypothesis) -> np.ndarray:
    """Scale each column as ``scanpy.pp.scale`` does and return a dense array."""
    if hypothesis.zero_center:
        # Centring makes the matrix dense anyway; densify first, as scanpy would.
        scaled = sc.pp.scale(
            matrix.toarray(), zero_center=True, max_value=hypothesis.max_value, copy=True
        )
    else:
        scaled = sc.pp.scale(matrix, zero_center=False, max_value=hypothesis.max_value, copy=True)
    return scaled.toarray() if sp.issparse(scaled) else np.asarray(scaled)


# -- scoring ------------------------------------------------------------------


def score_against(
    hypothesis: GeneHypothesis,
    hvg: np.ndarray,
    feat: np.ndarray,
    *,
    target_hvg: np.ndarray,
    target_feat: np.ndarray,
    rows: np.ndarray,
    target_rows: np.ndarray,
) -> HypothesisScore:
    """Score one hypothesis' output against one side's ``hvg`` and ``feat``.

    Parameters
    ----------
    hypothesis
        The hypothesis that produced ``hvg`` and ``feat``.
    hvg, feat
        Its output: ``(n_hvg,)`` and ``(n_obs, n_hvg)`` in the counts' row order.
    target_hvg, target_feat
        The side's output: ``(h,)`` and ``(m, h)``.
    rows, target_rows
        Shape ``(n_aligned,)`` each: rows of ``feat`` and of ``target_feat`` that hold
        the same spot (from the barcode alignment).
    """
    target_names = np.asarray(target_hvg).astype(str)
    common, index, target_index = np.intersect1d(hvg, target_names, return_indices=True)
    union = hvg.size + target_names.size - common.size
    jaccard = common.size / union if union else 1.0
    max_error: float | None = None
    fraction: float | None = None
    if common.size:
        mine = feat[np.ix_(rows, index)].astype(np.float64)
        theirs = np.asarray(target_feat)[np.ix_(target_rows, target_index)].astype(np.float64)
        error = np.abs(mine - theirs)
        finite_error = np.where(np.isfinite(error), error, np.inf)
        max_error = float(finite_error.max()) if finite_error.size else 0.0
        close = error <= REPRODUCE_ATOL + REPRODUCE_RTOL * np.abs(theirs)
        fraction = float(1.0 - close.mean()) if close.size else 0.0
    n = int(target_names.size)
    return HypothesisScore(
        name=hypothesis.name,
        explanation=hypothesis.explanation.format(n=n),
        hvg_jaccard=float(jaccard),
        n_common_genes=int(common.size),
        max_abs_error=max_error,
        fraction_differing=fraction,
    )


@dataclass(frozen=True)
class HypothesisInputs:
    """Everything the hypotheses read, with the digests that identify it.

    ``digests`` is the cache key. ``load`` is called only on a cache miss and
    returns a mapping with ``counts``, ``genes``, ``candidate_hvg``,
    ``candidate_feat``, ``rows`` and ``candidate_rows``. The mapping may also
    contain ``reference_hvg`` and ``reference_feat`` for the control.
    """

    digests: tuple[str, ...]
    load: Callable[[], Mapping[str, Any]] = field(compare=False, hash=False, repr=False)


def evaluate_hypotheses(inputs: HypothesisInputs) -> HypothesisReport:
    """Run and score every hypothesis, once per content of ``inputs`` (cached)."""
    return _evaluate_cached(inputs)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _evaluate_cached(inputs: HypothesisInputs) -> HypothesisReport:
    data = inputs.load()
    candidate_hvg = np.asarray(data["candidate_hvg"]).astype(str)
    n_top_genes = int(candidate_hvg.size)
    has_reference = data.get("reference_hvg") is not None and data.get("reference_feat") is not None
    started = time.perf_counter()
    logger.info(
        "reproducing the candidate's genes under %d hypotheses (%d HVGs, counts %s)",
        len(HYPOTHESES),
        n_top_genes,
        np.shape(data["counts"]),
    )

    scores: list[HypothesisScore] = []
    control: HypothesisScore | None = None
    step_started = time.perf_counter()
    outputs = run_hypotheses(data["counts"], data["genes"], n_top_genes=n_top_genes)
    for hypothesis, hvg, feat in outputs:
        score = score_against(
            hypothesis,
            hvg,
            feat,
            target_hvg=candidate_hvg,
            target_feat=data["candidate_feat"],
            rows=data["rows"],
            target_rows=data["candidate_rows"],
        )
        scores.append(score)
        if hypothesis is REFERENCE_ORDER and has_reference:
            if len(data["reference_hvg"]) == n_top_genes:
                control = _score_reference(hypothesis, hvg, feat, data)
        logger.debug(
            "hypothesis %s: HVG Jaccard %.4f (%.2f s)",
            hypothesis.name,
            score.hvg_jaccard,
            time.perf_counter() - step_started,
        )
        step_started = time.perf_counter()

    if control is None and has_reference:
        # The candidate selected another number of genes: run the control at the reference's.
        outputs = run_hypotheses(
            data["counts"],
            data["genes"],
            n_top_genes=len(data["reference_hvg"]),
            hypotheses=(REFERENCE_ORDER,),
        )
        for hypothesis, hvg, feat in outputs:
            control = _score_reference(hypothesis, hvg, feat, data)

    elapsed = time.perf_counter() - started
    logger.info("gene hypotheses finished in %.1f s", elapsed)
    return HypothesisReport(
        scores=tuple(scores), n_top_genes=n_top_genes, control=control, elapsed_s=elapsed
    )


def _score_reference(
    hypothesis: GeneHypothesis, hvg: np.ndarray, feat: np.ndarray, data: Mapping[str, Any]
) -> HypothesisScore:
    n_obs = feat.shape[0]
    all_rows = np.arange(n_obs)
    return score_against(
        hypothesis,
        hvg,
        feat,
        target_hvg=data["reference_hvg"],
        target_feat=data["reference_feat"],
        rows=all_rows,
        target_rows=all_rows,
    )
