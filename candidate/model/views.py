"""Augmented views of the graph and the features, drawn from torch's CPU generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SPARSE_MAX_DENSITY = 0.3
"""Largest fraction of non-zero features for which the CPU path uses a sparse matrix.

Measured for 3611 x 3000 float64 features at 8.4 % density, one thread of a shared
2-core CPU. The sparse product with a (3000, 64) weight took 1.05 s forward and
backward (dense: 1.60 s), and 0.16 s forward only (dense: 0.76 s).
"""


@dataclass(frozen=True)
class UndirectedEdges:
    """Each undirected edge once, as ``(i, j)`` with ``i < j``, in row-major order.

    Attributes
    ----------
    source, target
        Shape ``(n_pairs,)``, int64.
    drop_probability
        Shape ``(n_pairs,)``, float64, the probability stored for ``(i, j)`` in row ``i``.
    """

    source: torch.Tensor
    target: torch.Tensor
    drop_probability: torch.Tensor

    @classmethod
    def from_directed(cls, edges: np.ndarray, edge_prob: np.ndarray) -> UndirectedEdges:
        """Keep the directed edges with ``source < target`` of a symmetric edge list.

        Parameters
        ----------
        edges
            Shape ``(2, n_edges)``, sorted by (source, target).
        edge_prob
            Shape ``(n_edges,)``, aligned with ``edges``.
        """
        upper = edges[0] < edges[1]
        return cls(
            source=torch.from_numpy(np.ascontiguousarray(edges[0][upper], dtype=np.int64)),
            target=torch.from_numpy(np.ascontiguousarray(edges[1][upper], dtype=np.int64)),
            drop_probability=torch.from_numpy(
                np.ascontiguousarray(edge_prob[upper], dtype=np.float64)
            ),
        )

    def draw_view(self) -> torch.Tensor:
        """Keep each pair when a float32 uniform draw is at least its drop probability.

        Draws one uniform per pair from torch's CPU generator. Returns shape
        ``(2, 2 * n_kept)``: the kept ``(i, j)`` pairs, then the same pairs reversed.
        """
        keep = torch.rand(self.source.numel(), dtype=torch.float32) >= self.drop_probability
        kept_source, kept_target = self.source[keep], self.target[keep]
        return torch.stack(
            [torch.cat([kept_source, kept_target]), torch.cat([kept_target, kept_source])]
        )


class GeneFeatures:
    """The model input, dense or as a sparse COO matrix, and its views with dropped genes.

    The gene features after ``scale(zero_center=False)`` keep the zeros of the
    counts (about 92 % on DLPFC 151673), so on the CPU a sparse product with
    the first layer's weights costs a fraction of the dense one. A sparse
    product adds the same non-zero terms in another order, so results differ
    from the dense ones only by rounding (about 1e-16 relative).

    Parameters
    ----------
    features
        Shape ``(n_obs, n_genes)``.
    device
        ``"cpu"`` or ``"cuda"``; CUDA keeps the dense matrix.
    """

    def __init__(self, features: np.ndarray, *, device: str) -> None:
        dense = np.ascontiguousarray(features, dtype=np.float64)
        self.n_genes = dense.shape[1]
        density = np.count_nonzero(dense) / max(dense.size, 1)
        self.sparse = device == "cpu" and density <= SPARSE_MAX_DENSITY
        if self.sparse:
            rows, cols = np.nonzero(dense)
            self._indices = torch.from_numpy(np.stack([rows, cols]).astype(np.int64))
            self._values = torch.from_numpy(dense[rows, cols])
            self._shape = dense.shape
            self.matrix = self._coo(self._values, check=True)
        else:
            self.matrix = torch.from_numpy(dense).to(device)

    def _coo(self, values: torch.Tensor, *, check: bool = False) -> torch.Tensor:
        # np.nonzero lists entries in row-major order, which is coalesced COO order.
        # The indices never change, so checking them once, at construction, suffices.
        return torch.sparse_coo_tensor(
            self._indices, values, size=self._shape, is_coalesced=True, check_invariants=check
        )

    def draw_view(self, *, drop_rate: float) -> torch.Tensor:
        """Return the features with whole gene columns zeroed, each with probability ``drop_rate``.

        Draws one float32 uniform per gene from torch's CPU generator; a gene
        is zeroed when its draw is below ``drop_rate``.
        """
        drop = torch.rand(self.n_genes, dtype=torch.float32) < drop_rate
        if self.sparse:
            return self._coo(torch.where(drop[self._indices[1]], 0.0, self._values))
        view = self.matrix.clone()
        view[:, drop.to(view.device)] = 0
        return view
