"""junit.xml: suites per stage, cases per check, failure and skipped elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report import render_junit
from tests.report._samples import sample_report


def _parse() -> ET.Element:
    return ET.fromstring(render_junit(sample_report()).encode("utf-8"))


def test_junit_parses_with_totals() -> None:
    root = _parse()

    assert root.tag == "testsuites"
    assert root.get("tests") == "9"
    assert root.get("failures") == "4"
    assert root.get("skipped") == "2"
    assert len(root.findall(".//failure")) == 4


def test_junit_one_suite_per_stage() -> None:
    root = _parse()

    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == [
        "harness.patches", "harness.image_features", "harness.genes", "harness.graph",
        "harness.train", "harness.cluster", "harness.metrics",
    ]
    assert suites["harness.genes"].get("tests") == "2"
    assert suites["harness.genes"].get("failures") == "1"
    assert suites["harness.train"].get("failures") == "0"


def test_junit_case_names_and_classnames() -> None:
    root = _parse()

    case = root.find(".//testcase[@name='graph.edges']")
    assert case is not None
    assert case.get("classname") == "harness.graph"


def test_junit_failure_has_diagnosis_and_description() -> None:
    root = _parse()

    failure = root.find(".//testcase[@name='patches.centers']/failure")
    assert failure.get("type") == "fail"
    assert failure.get("message").startswith("candidate centres are scaled twice")
    assert "FAIL patches.centers: max_error_px 37.5 px > 0.5 px" in failure.text
    assert "diagnosis: candidate centres are scaled twice" in failure.text
    assert failure.text.count("AAAC") == 20

    error = root.find(".//testcase[@name='genes.matrix']/failure")
    assert error.get("type") == "error"
    assert "shapes differ" in error.get("message")


def test_junit_skips_waived_with_reason() -> None:
    root = _parse()

    waived = root.find(".//testcase[@name='metrics.ari']/skipped")
    skipped = root.find(".//testcase[@name='cluster.backend']/skipped")
    assert waived.get("message") == "waived: foundation-model encoder declared by the candidate"
    assert skipped.get("message") == "the candidate does not provide the cluster stage"
    assert root.find(".//testcase[@name='metrics.ari']/failure") is None


def test_junit_warn_passes_with_output() -> None:
    root = _parse()

    case = root.find(".//testcase[@name='train.embedding']")
    assert case.find("failure") is None
    assert case.find("skipped") is None
    assert "0.91 < 0.95" in case.find("system-out").text


def test_junit_properties_hold_observed_and_threshold() -> None:
    root = _parse()

    properties = {
        prop.get("name"): prop.get("value")
        for prop in root.findall(".//testcase[@name='graph.edges']/properties/property")
    }
    assert properties["observed"] == "0.62"
    assert properties["threshold"] == "0.99"
    assert properties["direction"] == "min"
    assert properties["status"] == "fail"

    encoder = {
        prop.get("name"): prop.get("value")
        for prop in root.findall(".//testcase[@name='image_features.encoder']/properties/property")
    }
    assert encoder["observed"] == "vit_large_patch16_224"
    assert encoder["expected"] == "vit_huge_patch14_224"
