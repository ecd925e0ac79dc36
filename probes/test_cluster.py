"""Probes of the cluster stage."""

from probes.checks import assert_check


def test_backend(harness_checks):
    assert_check(harness_checks, "cluster.backend")


def test_domains(harness_checks):
    assert_check(harness_checks, "cluster.domains")
