"""Probes of the pseudo_labels stage."""

from probes.checks import assert_check


def test_count(harness_checks):
    assert_check(harness_checks, "pseudo_labels.count")


def test_agreement(harness_checks):
    assert_check(harness_checks, "pseudo_labels.agreement")
