"""Neighbour contrastive loss with negatives restricted to other image pseudo-labels."""

from __future__ import annotations

import torch
from torch.nn import functional


class NeighbourContrastiveLoss:
    """STAIG's contrastive loss for two views of the same graph.

    With ``e(a, b) = exp(cos(a, b) / temperature)``, the neighbours ``N(i)`` of
    the undropped graph and ``m_ij = 1`` when spots i and j have different
    pseudo-labels, the term of anchor i in view 1 is::

        pos_i = e(z1_i, z2_i) + sum_{j in N(i)} e(z1_i, z1_j) + sum_{j in N(i)} e(z1_i, z2_j)
        neg_i = sum_j m_ij e(z1_i, z1_j) + sum_j m_ij e(z1_i, z2_j) - e(z1_i, z1_i)
        l_i = -log(pos_i / neg_i / (2 |N(i)| + 1))

    The self term is subtracted although the mask already excludes it, as in
    STAIG. The loss is the mean over spots of the two view orders averaged.

    Parameters
    ----------
    edges
        Shape ``(2, n_edges)``, int64, the undropped graph without self-loops,
        both directions present.
    pseudo_labels
        Shape ``(n_obs,)``, int64.
    temperature
        tau.
    """

    def __init__(
        self, *, edges: torch.Tensor, pseudo_labels: torch.Tensor, temperature: float
    ) -> None:
        n_obs = pseudo_labels.numel()
        self.source, self.target = edges[0], edges[1]
        self.temperature = temperature
        degree = torch.bincount(self.source, minlength=n_obs).to(torch.float64)
        self.n_positive = 2 * degree + 1
        # Dense (n_obs, n_obs) mask: the negatives of every anchor are all spots
        # with another pseudo-label, so the method needs every pair.
        self.different_label = pseudo_labels[:, None] != pseudo_labels[None, :]

    def _neighbour_sum(self, similarity: torch.Tensor, *, transposed: bool = False) -> torch.Tensor:
        if transposed:
            values = similarity[self.target, self.source]
        else:
            values = similarity[self.source, self.target]
        return torch.zeros(
            similarity.shape[0], dtype=similarity.dtype, device=similarity.device
        ).index_add(0, self.source, values)

    def __call__(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss of views ``z1`` and ``z2``, each ``(n_obs, dim)``.

        The similarity of view 2 to view 1 is the transpose of that of view 1
        to view 2, so three (n_obs, n_obs) products serve both view orders.
        """
        unit_1, unit_2 = functional.normalize(z1), functional.normalize(z2)
        intra_1 = torch.exp(unit_1 @ unit_1.T / self.temperature)
        intra_2 = torch.exp(unit_2 @ unit_2.T / self.temperature)
        inter = torch.exp(unit_1 @ unit_2.T / self.temperature)
        zero = inter.new_zeros(())
        inter_negative = torch.where(self.different_label, inter, zero)

        # Anchors in view 1: intra_1 and inter. Anchors in view 2: intra_2 and inter.T.
        positive_1 = inter.diagonal() + self._neighbour_sum(intra_1) + self._neighbour_sum(inter)
        negative_1 = (
            torch.where(self.different_label, intra_1, zero).sum(dim=1)
            + inter_negative.sum(dim=1)
            - intra_1.diagonal()
        )
        positive_2 = (
            inter.diagonal()
            + self._neighbour_sum(intra_2)
            + self._neighbour_sum(inter, transposed=True)
        )
        negative_2 = (
            torch.where(self.different_label, intra_2, zero).sum(dim=1)
            + inter_negative.sum(dim=0)
            - intra_2.diagonal()
        )
        loss_1 = -torch.log(positive_1 / negative_1 / self.n_positive)
        loss_2 = -torch.log(positive_2 / negative_2 / self.n_positive)
        return (0.5 * (loss_1 + loss_2)).mean()
