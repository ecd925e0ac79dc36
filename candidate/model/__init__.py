"""The graph contrastive model of ``staig_fusion``: network, edge and feature views, loss."""
