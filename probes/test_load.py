"""Probes of the load stage."""

from probes.checks import assert_check


def test_barcodes(harness_checks):
    assert_check(harness_checks, "load.barcodes")


def test_spatial(harness_checks):
    assert_check(harness_checks, "load.spatial")
