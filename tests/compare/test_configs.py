"""Configuration diff: one line per differing key, tolerances, exclusions."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare.configs import compare_configs
from harness.errors import InputError

STAIG_151673 = {
    "slice_config": "151673",
    "preset": "staig",
    "hyper": {
        "seed": 39788, "learning_rate": 0.0005, "num_hidden": 64, "tau": 35,
        "num_epochs": 300, "activation": "prelu", "num_neigh": 5, "k": 80,
    },
    "image": {"patch_size": 512, "encoder": "byol_resnet50"},
}

json_keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
json_leaves = (
    st.none() | st.booleans() | st.integers() | st.text(alphabet="xyz01 ", max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_configs = st.dictionaries(
    json_keys,
    st.recursive(
        json_leaves,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(json_keys, children, max_size=4),
        max_leaves=10,
    ),
    max_size=6,
)


@settings(max_examples=50, deadline=None)
@given(config=json_configs)
def test_config_passes_against_itself(config):
    result = compare_configs(config, copy.deepcopy(config))

    assert result.status == "pass"
    assert result.observed == 0


def _edited(**changes):
    config = copy.deepcopy(STAIG_151673)
    for path, value in changes.items():
        node = config
        *parents, leaf = path.split("__")
        for parent in parents:
            node = node[parent]
        if value is _REMOVE:
            del node[leaf]
        else:
            node[leaf] = value
    return config


_REMOVE = object()


@pytest.mark.parametrize(
    ("candidate", "line", "change"),
    [
        (_edited(hyper__tau=30), "hyper.tau: reference 35, candidate 30", "changed"),
        (_edited(hyper__activation="relu"),
         "hyper.activation: reference 'prelu', candidate 'relu'", "changed"),
        (_edited(hyper__drop_edge=0.2), "hyper.drop_edge: added, candidate 0.2", "added"),
        (_edited(hyper__k=_REMOVE), "hyper.k: removed, reference 80", "removed"),
        (_edited(hyper__num_epochs=300.0),
         "hyper.num_epochs: reference 300 (int), candidate 300.0 (float)", "type changed"),
    ],
    ids=["number", "string", "added-key", "removed-key", "int-to-float"],
)
def test_difference_lines_table(candidate, line, change):
    result = compare_configs(STAIG_151673, candidate)

    assert result.status == "fail"
    assert result.observed == 1
    assert result.details["differences"] == [line]
    assert result.evidence[0]["change"] == change
    assert line in result.description


def test_legacy_profile_lists_every_key():
    candidate = _edited(hyper__tau=30, hyper__num_epochs=200, hyper__learning_rate=0.001,
                        hyper__num_neigh=3, hyper__k=300, image__patch_size=224)

    result = compare_configs(STAIG_151673, candidate)

    assert result.observed == 6
    assert [row["key"] for row in result.evidence] == [
        "hyper.k", "hyper.learning_rate", "hyper.num_epochs", "hyper.num_neigh", "hyper.tau",
        "image.patch_size",
    ]


def test_list_items_compared_in_order():
    result = compare_configs({"sizes": [1, 2, 3]}, {"sizes": [1, 3, 2]})

    assert result.status == "fail"
    assert result.details["differences"] == [
        "sizes[1]: reference 2, candidate 3", "sizes[2]: reference 3, candidate 2"
    ]


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({}, "fail"),
        ({"math_epsilon": 1e-6}, "pass"),
        ({"significant_digits": 5}, "pass"),
        ({"significant_digits": 12}, "fail"),
    ],
    ids=["exact", "math-epsilon", "few-digits", "many-digits"],
)
def test_float_tolerance_options(options, status):
    candidate = _edited(hyper__learning_rate=0.0005000001)

    assert compare_configs(STAIG_151673, candidate, **options).status == status


def test_numeric_type_change_can_be_ignored():
    candidate = _edited(hyper__num_epochs=300.0)

    result = compare_configs(STAIG_151673, candidate, ignore_numeric_type_changes=True)

    assert result.status == "pass"


def test_excluded_paths_left_out():
    candidate = _edited(hyper__seed=1, hyper__tau=30)

    result = compare_configs(STAIG_151673, candidate, exclude_paths={"hyper.seed"})

    assert result.details["differences"] == ["hyper.tau: reference 35, candidate 30"]


@pytest.mark.parametrize(
    ("reference", "options", "match"),
    [
        ([1, 2], {}, "expected a mapping"),
        ({}, {"significant_digits": 3, "math_epsilon": 1e-3}, "choose one"),
        ({}, {"exclude_paths": [""]}, "empty"),
    ],
    ids=["list-config", "two-tolerances", "empty-exclude-path"],
)
def test_invalid_arguments_raise(reference, options, match):
    with pytest.raises(InputError, match=match):
        compare_configs(reference, {}, **options)
