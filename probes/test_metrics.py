"""Probes of the metrics stage."""

from probes.checks import assert_check


def test_ari(harness_checks):
    assert_check(harness_checks, "metrics.ari")
