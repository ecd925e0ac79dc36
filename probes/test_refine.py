"""Probes of the refine stage."""

from probes.checks import assert_check


def test_agreement(harness_checks):
    assert_check(harness_checks, "refine.agreement")
