"""Probes of the patch_filter stage."""

from probes.checks import assert_check


def test_filtered(harness_checks):
    assert_check(harness_checks, "patch_filter.filtered")
