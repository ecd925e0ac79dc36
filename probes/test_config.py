"""Probes of the effective hyperparameters across stages."""

from probes.checks import assert_check


def test_hyperparameters(harness_checks):
    assert_check(harness_checks, "config.hyperparameters")
