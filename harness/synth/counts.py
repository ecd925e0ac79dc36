"""Negative-binomial UMI counts with per-domain marker genes.

Counts are drawn as a gamma-Poisson mixture, which is the negative binomial
with mean ``mu`` and variance ``mu + dispersion * mu**2``:
``lambda ~ Gamma(shape=1/dispersion, scale=dispersion * mu)`` and
``count ~ Poisson(lambda)``, with ``mu = library_size * gene_mean[domain]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from harness.synth._parallel import ordered_map
from harness.synth.spec import (
    DOMAIN_NAMES,
    MARKERS_PER_DOMAIN,
    STREAM_COUNTS,
    STREAM_GENES,
    stream_rng,
)

# Expected UMIs of a gene in a spot of library size 1, log-normal over genes.
# With 3000 genes the median spot then has about 1,400 UMIs and about 81 % of
# the matrix is zero. For comparison, the 5000-gene DLPFC matrix of slice 151673
# (BANKSY's gene selection) has a median of 1,193 UMIs per spot and 87 % zeros.
GENE_LOG_MEAN = -2.6
GENE_LOG_SD = 1.8
# Markers are drawn from a higher mean so that every one of them is detected.
MARKER_LOG_MEAN = 0.0
MARKER_LOG_SD = 0.6
# Fold change of a marker's mean in its own domain, uniform in this range.
MARKER_FOLD_RANGE = (3.0, 6.0)
# Negative-binomial dispersion per gene, log-normal around 0.6.
DISPERSION_LOG_MEAN = math.log(0.6)
DISPERSION_LOG_SD = 0.5
# Spot-to-spot variation of library size (log-normal sd), and the median
# library size of each domain relative to the whole slice (DOMAIN_NAMES order):
# the per-layer median UMI counts of DLPFC slice 151673 divided by its overall median.
LIBRARY_LOG_SD = 0.5
DOMAIN_LIBRARY_FACTOR = np.array([0.37, 1.20, 1.32, 1.18, 1.16, 0.81, 0.84])
# Matrix elements drawn per chunk of spots: 2**22 doubles are 32 MiB.
CHUNK_ELEMENTS = 2**22


@dataclass(frozen=True)
class GeneModel:
    """Genes of a synthetic slice and their expression parameters.

    Attributes
    ----------
    gene_ids
        ``(n_genes,)`` ids such as ``"SYNG00001"``.
    gene_names
        ``(n_genes,)`` unique names such as ``"SynGene1"``.
    dispersion
        ``(n_genes,)`` negative-binomial dispersion.
    domain_mean
        ``(n_domains, n_genes)`` expected UMIs at library size 1, per domain.
    marker_index
        ``(n_domains, MARKERS_PER_DOMAIN)`` gene indices of each domain's markers.
    """

    gene_ids: np.ndarray
    gene_names: np.ndarray
    dispersion: np.ndarray
    domain_mean: np.ndarray
    marker_index: np.ndarray


@dataclass(frozen=True)
class CountChunk:
    """Counts of consecutive spots in CSR layout (one row per spot).

    Attributes
    ----------
    data
        ``(nnz,)`` int32 non-zero counts, row by row, genes ascending.
    indices
        ``(nnz,)`` int64 gene index of each count.
    row_nnz
        ``(n_chunk_spots,)`` int64 number of non-zero genes per spot.
    """

    data: np.ndarray
    indices: np.ndarray
    row_nnz: np.ndarray


def build_gene_model(n_genes: int, *, seed: int) -> GeneModel:
    """Draw gene means, dispersions and the marker genes of every domain.

    Markers are distinct genes at random positions of the gene list.
    """
    rng = stream_rng(seed, STREAM_GENES)
    n_domains = len(DOMAIN_NAMES)
    width = max(5, len(str(n_genes)))
    numbers = np.arange(1, n_genes + 1)
    gene_ids = np.array([f"SYNG{number:0{width}d}" for number in numbers])
    gene_names = np.array([f"SynGene{number}" for number in numbers])

    base_mean = np.exp(rng.normal(GENE_LOG_MEAN, GENE_LOG_SD, size=n_genes))
    dispersion = np.exp(rng.normal(DISPERSION_LOG_MEAN, DISPERSION_LOG_SD, size=n_genes))
    marker_index = rng.permutation(n_genes)[: n_domains * MARKERS_PER_DOMAIN]
    marker_index = marker_index.reshape(n_domains, MARKERS_PER_DOMAIN)
    base_mean[marker_index] = np.exp(
        rng.normal(MARKER_LOG_MEAN, MARKER_LOG_SD, size=marker_index.shape)
    )

    domain_mean = np.tile(base_mean, (n_domains, 1))
    folds = rng.uniform(*MARKER_FOLD_RANGE, size=marker_index.shape)
    for domain in range(n_domains):
        domain_mean[domain, marker_index[domain]] *= folds[domain]
    return GeneModel(
        gene_ids=gene_ids,
        gene_names=gene_names,
        dispersion=dispersion,
        domain_mean=domain_mean,
        marker_index=marker_index,
    )


def draw_library_sizes(domains: np.ndarray, *, seed: int) -> np.ndarray:
    """Draw the relative library size of each spot.

    Parameters
    ----------
    domains
        ``(n_spots,)`` domain index of each spot, in count-matrix order.

    Returns
    -------
    numpy.ndarray
        ``(n_spots,)`` float64, log-normal with a domain-dependent mean.
    """
    rng = stream_rng(seed, STREAM_COUNTS)
    noise = np.exp(rng.normal(0.0, LIBRARY_LOG_SD, size=domains.size))
    return DOMAIN_LIBRARY_FACTOR[domains] * noise


def iter_count_chunks(
    genes: GeneModel, domains: np.ndarray, *, seed: int, workers: int = 1
) -> Iterator[CountChunk]:
    """Draw the count matrix in chunks of spots, in the order of ``domains``.

    Each chunk has its own random stream, keyed by its index, and the chunk
    size depends only on the number of genes, so the counts depend only on
    the seed and the inputs, not on ``workers``. Each pending chunk takes a
    few times ``CHUNK_ELEMENTS`` doubles while it is drawn.

    Parameters
    ----------
    genes
        Gene means and dispersions.
    domains
        ``(n_spots,)`` domain index of each spot (indices into ``DOMAIN_NAMES``).
    seed
        Seed of the count streams.
    workers
        Threads drawing chunks. Default 1.

    Yields
    ------
    CountChunk
        Consecutive spots; together the chunks cover all ``n_spots`` rows.
    """
    library = draw_library_sizes(domains, seed=seed)
    n_genes = genes.domain_mean.shape[1]
    chunk_spots = max(1, CHUNK_ELEMENTS // n_genes)
    shape = 1.0 / genes.dispersion

    def draw_chunk(chunk_index: int) -> CountChunk:
        start = chunk_index * chunk_spots
        stop = min(start + chunk_spots, domains.size)
        rng = stream_rng(seed, STREAM_COUNTS, 1, chunk_index)
        mean = library[start:stop, None] * genes.domain_mean[domains[start:stop]]
        rate = rng.gamma(shape[None, :], genes.dispersion[None, :] * mean)
        counts = rng.poisson(rate)
        rows, cols = np.nonzero(counts)
        return CountChunk(
            data=counts[rows, cols].astype(np.int32),
            indices=cols.astype(np.int64),
            row_nnz=np.bincount(rows, minlength=stop - start).astype(np.int64),
        )

    n_chunks = -(-domains.size // chunk_spots)
    yield from ordered_map(draw_chunk, range(n_chunks), workers=workers)
