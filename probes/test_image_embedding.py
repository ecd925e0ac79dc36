"""Probes of the image_embedding stage."""

from probes.checks import assert_check


def test_img_emb(harness_checks):
    assert_check(harness_checks, "image_embedding.img_emb")
