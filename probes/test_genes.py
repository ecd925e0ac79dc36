"""Probes of the genes stage."""

from probes.checks import assert_check


def test_hvg(harness_checks):
    assert_check(harness_checks, "genes.hvg")


def test_matrix(harness_checks):
    assert_check(harness_checks, "genes.matrix")
