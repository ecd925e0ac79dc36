"""The network: GCNConv encoder with a shared PReLU, then a two-layer projection head."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv


class GraphContrastiveNet(nn.Module):
    """GCN encoder and projection head, as in STAIG's single-slice model.

    With one layer the encoder is ``GCNConv(n_genes, hidden_dim)``; with
    ``n_layers`` > 1 the first layer widens to ``2 * hidden_dim`` and the last
    narrows back to ``hidden_dim``. One PReLU (a single shared slope) follows
    every layer. The head is ``Linear(hidden_dim, proj_dim)``, ELU,
    ``Linear(proj_dim, hidden_dim)``, and :meth:`forward` returns its output.

    Layers are created, and so initialised from torch's generator, in the
    order GCNConv layers, PReLU, first Linear, second Linear.

    Parameters
    ----------
    n_genes
        Input width (highly variable genes).
    hidden_dim
        Encoder output width, 64 in STAIG.
    proj_dim
        Projection head hidden width, 64 in STAIG.
    n_layers
        GCNConv layers, at least 1.
    """

    def __init__(self, *, n_genes: int, hidden_dim: int, proj_dim: int, n_layers: int) -> None:
        super().__init__()
        if n_layers < 1:
            msg = f"n_layers must be at least 1; got {n_layers}"
            raise ValueError(msg)
        widths = [n_genes] + [2 * hidden_dim] * (n_layers - 1) + [hidden_dim]
        self.convs = nn.ModuleList(GCNConv(widths[i], widths[i + 1]) for i in range(n_layers))
        self.activation = nn.PReLU()
        self.fc1 = nn.Linear(hidden_dim, proj_dim)
        self.fc2 = nn.Linear(proj_dim, hidden_dim)

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Return the encoder output, shape ``(n_obs, hidden_dim)``."""
        for conv in self.convs:
            x = self.activation(conv(x, edge_index))
        return x

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Return the projected embedding, shape ``(n_obs, hidden_dim)``.

        Parameters
        ----------
        x
            Shape ``(n_obs, n_genes)``.
        edge_index
            Shape ``(2, n_edges)``, int64, directed edges (both directions present).
        """
        hidden = self.encode(x, edge_index)
        return self.fc2(nn.functional.elu(self.fc1(hidden)))
