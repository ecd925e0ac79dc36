"""Provenance records: encoder requested against actual, encoder and backend identity."""

from __future__ import annotations

import pytest

from harness.compare.provenance import (
    check_encoder_request,
    compare_backend_records,
    compare_encoder_records,
    compare_records,
)
from harness.errors import InputError

UNI = {
    "requested": "uni",
    "actual": "uni",
    "architecture": "vit_large_patch16_224",
    "param_count": 303_350_784,
    "weights_digest": "sha256:0f1e",
    "input_size": 224,
    "normalization": "imagenet",
}
MCLUST = {"algorithm": "mclust", "version": "6.1.1", "settings": {"G": 7, "modelNames": "EEE"}}


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (UNI, "pass"),
        ({**UNI, "requested": "uni2_h"}, "fail"),
    ],
    ids=["as-requested", "uni-forced-for-uni2"],
)
def test_encoder_request_judged_by_equality(record, status):
    result = check_encoder_request(record)

    assert result.status == status
    assert f"requested {record['requested']!r}, actual 'uni'" in result.description
    assert result.details["param_count"] == 303_350_784


def test_encoder_request_missing_field_is_error():
    result = check_encoder_request({"requested": "uni2_h"})

    assert result.status == "error"
    assert "['actual']" in result.description


@pytest.mark.parametrize(
    ("candidate", "differing"),
    [
        (UNI, []),
        ({**UNI, "weights_digest": "random init"}, ["weights_digest"]),
        ({**UNI, "actual": "uni2_h", "architecture": "vit_huge_patch14_224",
          "param_count": 681_000_000}, ["actual", "architecture", "param_count"]),
        ({key: value for key, value in UNI.items() if key != "normalization"},
         ["normalization"]),
    ],
    ids=["same", "random-weights", "other-model", "field-missing-on-candidate"],
)
def test_encoder_records_list_differing_fields(candidate, differing):
    result = compare_encoder_records(UNI, candidate)

    assert [row["key"] for row in result.evidence] == differing
    assert result.status == ("pass" if not differing else "fail")


def test_field_missing_on_one_side_named():
    candidate = {key: value for key, value in UNI.items() if key != "weights_digest"}

    result = compare_encoder_records(UNI, candidate)

    assert result.evidence[0] == {
        "key": "weights_digest", "reference": "sha256:0f1e", "candidate": None,
        "missing": "candidate",
    }


def test_silent_kmeans_fallback_fails_backend_check():
    kmeans = {"algorithm": "kmeans", "version": "1.9.1", "settings": {"n_clusters": 7}}

    result = compare_backend_records(MCLUST, kmeans)

    assert result.status == "fail"
    assert result.observed == 3
    assert "algorithm: reference 'mclust', candidate 'kmeans'" in result.description


def test_backend_record_passes_against_itself():
    assert compare_backend_records(MCLUST, dict(MCLUST)).status == "pass"


def test_field_absent_both_sides_errors():
    result = compare_records({"a": 1}, {"a": 1}, fields=("a", "weights_digest"))

    assert result.status == "error"
    assert "['weights_digest']" in result.description


@pytest.mark.parametrize(
    ("reference", "fields", "match"),
    [
        ("mclust", ("algorithm",), "expected a mapping"),
        ({}, (), "`fields` is empty"),
    ],
    ids=["string-record", "no-fields"],
)
def test_invalid_arguments_raise(reference, fields, match):
    with pytest.raises(InputError, match=match):
        compare_records(reference, {}, fields=fields)
