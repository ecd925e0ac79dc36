"""Probes of the graph stage."""

from probes.checks import assert_check


def test_edges(harness_checks):
    assert_check(harness_checks, "graph.edges")
