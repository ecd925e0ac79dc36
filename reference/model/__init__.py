"""STAIG's graph contrastive model: GCN encoder, augmented views, neighbour contrastive loss."""
