"""Probes of the edge_probabilities stage."""

from probes.checks import assert_check


def test_values(harness_checks):
    assert_check(harness_checks, "edge_probabilities.values")
