"""MIHD's ``staig_fusion`` method, re-implemented with two profiles.

``staig_fusion`` re-implements STAIG inside a benchmark of image and
transcriptome fusion methods, with pathology foundation models (UNI, UNI2) as
image encoders. The ``legacy`` profile reproduces the implementation that
scored ARI 0.21 on DLPFC 151673; the ``strict`` profile is its alignment
rewrite. :class:`candidate.pipeline.StaigFusion` exposes both through the
harness's stage contract.
"""
