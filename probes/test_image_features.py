"""Probes of the image_features stage."""

from probes.checks import assert_check


def test_encoder(harness_checks):
    assert_check(harness_checks, "image_features.encoder")


def test_features(harness_checks):
    assert_check(harness_checks, "image_features.features")
