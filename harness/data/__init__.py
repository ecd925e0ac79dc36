"""Visium slice loading: counts, spot positions, scale factors, image levels and labels."""

from harness.data.images import ImageLevel, LevelName
from harness.data.labels import LabelsOption, LabelSource, join_labels, read_label_table
from harness.data.positions import read_tissue_positions
from harness.data.scalefactors import ScaleFactors, read_scalefactors
from harness.data.visium import VisiumSlice, drop_unlabelled, read_visium_slice

__all__ = [
    "ImageLevel",
    "LabelSource",
    "LabelsOption",
    "LevelName",
    "ScaleFactors",
    "VisiumSlice",
    "drop_unlabelled",
    "join_labels",
    "read_label_table",
    "read_scalefactors",
    "read_tissue_positions",
    "read_visium_slice",
]
