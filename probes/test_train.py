"""Probes of the train stage."""

from probes.checks import assert_check


def test_embedding(harness_checks):
    assert_check(harness_checks, "train.embedding")
