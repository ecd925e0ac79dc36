"""Spatial helpers of the reference: deterministic nearest-neighbour search."""
