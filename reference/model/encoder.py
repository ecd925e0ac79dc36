"""STAIG's model: a stack of GCNConv layers with one activation, then a projection head.

Layer widths follow STAIG's ``Encoder`` (``staig/net.py``). One layer maps
``in_channels -> num_hidden``. With ``k > 1`` layers, the first maps
``in_channels -> 2 * num_hidden``, the middle ones ``2 * num_hidden -> 2 *
num_hidden`` and the last ``2 * num_hidden -> num_hidden``. The same
activation module (so one shared PReLU parameter) follows every layer,
including the last. The projection head is Linear, ELU, Linear, and the
model's output is the projected embedding.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCNConv

from harness.errors import InputError

Activation = Literal["prelu", "relu"]
BaseModel = Literal["GCNConv"]


class GCNEncoder(nn.Module):
    """GCNConv layers with PyG's defaults, each followed by the shared activation.

    Parameters
    ----------
    in_channels
        Input width (number of genes).
    num_hidden
        Output width.
    num_layers
        Number of GCNConv layers, at least 1.
    activation
        ``"prelu"`` (one learnable slope shared by all layers, initial value
        0.25) or ``"relu"``.
    """

    def __init__(
        self, *, in_channels: int, num_hidden: int, num_layers: int, activation: Activation
    ) -> None:
        super().__init__()
        widths = layer_widths(
            in_channels=in_channels, num_hidden=num_hidden, num_layers=num_layers
        )
        self.convs = nn.ModuleList(GCNConv(width_in, width_out) for width_in, width_out in widths)
        self.activation_name = activation
        self.prelu = nn.PReLU() if activation == "prelu" else None

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Return the encoded spots ``(n_obs, num_hidden)`` of ``x`` ``(n_obs, in_channels)``."""
        for conv in self.convs:
            x = self._activate(conv(x, edge_index))
        return x

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        if self.prelu is not None:
            return self.prelu(x)
        return F.relu(x)


class ContrastiveModel(nn.Module):
    """Encoder plus projection head, whose :meth:`forward` returns the projected embedding.

    Parameters
    ----------
    encoder
        The GCN encoder, output width ``num_hidden``.
    num_hidden
        Encoder output width and projection output width.
    num_proj_hidden
        Width of the projection head's hidden layer.
    """

    def __init__(self, *, encoder: GCNEncoder, num_hidden: int, num_proj_hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.fc1 = nn.Linear(num_hidden, num_proj_hidden)
        self.fc2 = nn.Linear(num_proj_hidden, num_hidden)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Return the projected embedding ``(n_obs, num_hidden)``."""
        return self.project(self.encoder(x, edge_index))

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the projection head: Linear, ELU, Linear."""
        return self.fc2(F.elu(self.fc1(h)))


def layer_widths(*, in_channels: int, num_hidden: int, num_layers: int) -> list[tuple[int, int]]:
    """Return ``(in, out)`` of every GCNConv layer, as STAIG's ``Encoder`` stacks them."""
    if num_layers < 1:
        msg = f"num_layers must be at least 1, got {num_layers}; STAIG's configs use 1 or 2"
        raise InputError(msg)
    if num_layers == 1:
        return [(in_channels, num_hidden)]
    wide = 2 * num_hidden
    middle = [(wide, wide)] * (num_layers - 2)
    return [(in_channels, wide), *middle, (wide, num_hidden)]


def build_model(
    *,
    in_channels: int,
    num_hidden: int,
    num_proj_hidden: int,
    num_layers: int,
    activation: str,
    base_model: str = "GCNConv",
) -> ContrastiveModel:
    """Create the model in float32 on the CPU, then convert it to float64.

    Modules are created in the order GCNConv layers, PReLU, Linear, Linear,
    so parameter initialisation consumes the default CPU generator in that
    order. PReLU draws nothing (constant 0.25), so this stream equals
    STAIG's, which creates the PReLU first. Each GCNConv draws its Glorot
    weights twice, because PyG 2.8's ``Linear`` initialises itself and
    ``GCNConv.reset_parameters`` initialises it again. Call this right after
    seeding.

    Raises
    ------
    InputError
        When ``activation`` or ``base_model`` is not one STAIG supports, or
        ``num_layers < 1``.
    """
    if activation not in ("prelu", "relu"):
        msg = f"activation {activation!r} is not supported; STAIG's configs use 'prelu' or 'relu'"
        raise InputError(msg)
    if base_model != "GCNConv":
        msg = f"base_model {base_model!r} is not supported; STAIG's only base model is 'GCNConv'"
        raise InputError(msg)
    encoder = GCNEncoder(
        in_channels=in_channels, num_hidden=num_hidden, num_layers=num_layers, activation=activation
    )
    model = ContrastiveModel(encoder=encoder, num_hidden=num_hidden, num_proj_hidden=num_proj_hidden)
    return model.double()
