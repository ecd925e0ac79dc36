"""Probes of the patches stage."""

from probes.checks import assert_check


def test_centers(harness_checks):
    assert_check(harness_checks, "patches.centers")


def test_window(harness_checks):
    assert_check(harness_checks, "patches.window")


def test_on_tissue(harness_checks):
    assert_check(harness_checks, "patches.on_tissue")


def test_pixels(harness_checks):
    assert_check(harness_checks, "patches.pixels")
