"""config.hyperparameters and the name vocabulary, on hand-built and real stage configs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candidate.profiles import build_config
from candidate.stages import graph as candidate_graph
from candidate.stages import refine as candidate_refine
from harness.config import RunConfig
from harness.diagnose import config as config_check
from harness.diagnose.vocabulary import (
    ALIASES,
    canonical_hyperparameters,
    canonical_name,
    lookup,
)
from harness.implementation import StageContext
from reference.config import resolve_params
from reference.model.trainer import TrainSettings
from reference.stages import graph as reference_graph
from reference.stages import refine as reference_refine

from ._fixtures_graph import barcodes, hex_grid, load_stage, make_context

SPATIAL = hex_grid(6, 8)
NAMES = barcodes(SPATIAL.shape[0])


def judge(tmp_path, reference_configs, candidate_configs):
    reference = {"load": load_stage(NAMES, SPATIAL)}
    candidate = {"load": load_stage(NAMES, SPATIAL)}
    reference.update({stage: {"config": config} for stage, config in reference_configs.items()})
    candidate.update({stage: {"config": config} for stage, config in candidate_configs.items()})
    context = make_context(tmp_path, reference, candidate)
    [result] = config_check.check_hyperparameters(context, "chained")
    assert result.check_id == "config.hyperparameters"
    assert result.stage == "config"
    assert result.metric == "differing_keys"
    return result


# -- hand-built configs -------------------------------------------------------------------------


def test_aliased_tau_difference_named(tmp_path):
    result = judge(tmp_path, {"train": {"hyper": {"tau": 35}}}, {"train": {"temperature": 30}})
    assert result.status == "fail"
    assert result.observed == 1
    assert result.details["differences"] == [
        "tau: reference 35, candidate 30 (train: hyper.tau vs temperature)"
    ]
    assert result.diagnosis == (
        "the sides differ in 1 hyperparameter: tau (reference 35, candidate 30)"
    )


def test_same_values_other_names_pass(tmp_path):
    reference = {"train": {"hyper": {
        "tau": 35, "num_epochs": 300, "learning_rate": 0.0005, "drop_feature_rate_1": 0.1,
        "drop_feature_rate_2": 0.2, "num_hidden": 64,
    }}, "graph": {"num_neigh": 5}, "pseudo_labels": {"k": 80}, "refine": {"radius": 15}}
    candidate = {"train": {
        "temperature": 35.0, "n_epochs": 300, "lr": 5e-4, "feature_drop": [0.1, 0.2],
        "hidden_dim": 64,
    }, "graph": {"n_neighbors": 5}, "pseudo_labels": {"pseudo_k": 80},
        "refine": {"refine_neighbours": 15}}
    result = judge(tmp_path, reference, candidate)
    assert result.status == "pass"
    assert result.observed == 0
    assert result.diagnosis == ""
    assert set(result.details["compared"]) == {
        "tau", "num_epochs", "learning_rate", "drop_feature_rate_1", "drop_feature_rate_2",
        "num_hidden", "num_neigh", "k", "radius",
    }


def test_one_sided_keys_listed_not_failed(tmp_path):
    result = judge(
        tmp_path,
        {"train": {"hyper": {"tau": 35, "activation": "prelu"}}},
        {"train": {"temperature": 35, "python_seed": 12345}},
    )
    assert result.status == "pass"
    assert result.details["only_reference"] == {"activation": ["train"]}
    assert result.details["only_candidate"] == {"python_seed": ["train"]}


def test_all_differences_in_one_sentence(tmp_path):
    result = judge(
        tmp_path,
        {"train": {"hyper": {"tau": 35, "num_epochs": 300}}, "graph": {"num_neigh": 5}},
        {"train": {"temperature": 30, "epochs": 200}, "graph": {"knn_k": 3}},
    )
    assert result.status == "fail"
    assert result.observed == 3
    assert result.diagnosis == (
        "the sides differ in 3 hyperparameters: num_neigh (reference 5, candidate 3), "
        "num_epochs (reference 300, candidate 200) and tau (reference 35, candidate 30)"
    )


def test_same_difference_in_two_stages_once(tmp_path):
    result = judge(
        tmp_path,
        {"graph": {"slice_config": "151673"}, "refine": {"slice_config": "151673"}},
        {"graph": {"slice_name": "151672"}, "refine": {"slice_name": "151672"}},
    )
    assert result.observed == 1
    assert result.details["differences"] == [
        "slice_config: reference '151673', candidate '151672' (graph, refine: "
        "slice_config vs slice_name)"
    ]


def test_stage_config_on_one_side_ignored(tmp_path):
    result = judge(tmp_path, {"train": {"hyper": {"tau": 35}}, "graph": {"num_neigh": 5}},
                   {"graph": {"n_neighbours": 5}})
    assert result.status == "pass"
    assert result.details["stages"] == ["load", "graph"]


def test_list_element_difference_named(tmp_path):
    result = judge(tmp_path, {"patches": {"level_preference": ["fullres", "hires", "lowres"]}},
                   {"patches": {"level_preference": ["hires", "hires", "lowres"]}})
    assert result.status == "fail"
    assert result.details["differences"][0].startswith(
        "level_preference[0]: reference 'fullres', candidate 'hires'"
    )


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_any_alias_spelling_passes(tmp_path_factory, data):
    canonical = {"tau": 35, "num_epochs": 300, "learning_rate": 0.0005, "num_neigh": 5,
                 "k": 80, "radius": 15, "num_gene": 3000, "num_clusters": 7}
    spellings = {name: [name] + sorted(alias for alias, target in ALIASES.items()
                                       if target == name and "." not in alias)
                 for name in canonical}
    renamed = {data.draw(st.sampled_from(spellings[name])): value
               for name, value in canonical.items()}
    result = judge(tmp_path_factory.mktemp("alias"), {"train": {"hyper": canonical}},
                   {"train": renamed})
    assert result.status == "pass"
    assert set(result.details["compared"]) == set(canonical)


# -- the vocabulary -----------------------------------------------------------------------------


def test_vocabulary_prefers_canonical_spelling():
    config = {"model": {"gcn_layers": [3000, 64]}, "hyper": {"num_layers": 1}}
    entries = canonical_hyperparameters(config, stage="train")
    assert entries["num_layers"].value == 1
    assert entries["num_layers"].source == "hyper.num_layers"
    assert entries["num_layers"].via_alias is False


def test_vocabulary_skips_reductions():
    config = {"num_epochs": 60, "reductions": {"num_epochs": {"published": 300, "used": 60}}}
    assert lookup(config, "num_epochs", stage="train") == 60


def test_vocabulary_stage_aliases():
    assert lookup({"r_seed": 2023}, "seed", stage="cluster") == 2023
    assert lookup({"r_seed": 2023}, "seed", stage="train") is None
    assert canonical_name("max_value", path="scale.max_value") == "scale_max_value"
    assert canonical_name("metric") is None


def test_vocabulary_flattens_sequences():
    entries = canonical_hyperparameters({"feature_drop": (0.1, 0.3)})
    assert entries["drop_feature_rate_1"].value == 0.1
    assert entries["drop_feature_rate_2"].value == 0.3
    assert entries["drop_feature_rate_2"].source == "feature_drop[1]"


def test_lookup_without_config_is_none():
    assert lookup(None, "num_neigh") is None


# -- real stage configs of both implementations ---------------------------------------------------


def real_stage_configs(profile):
    """Stage configs as the reference and a candidate profile write them (slice 151673)."""
    run = RunConfig(slice_config="151673", preset="staig", device="cpu")
    params = resolve_params(run, None)
    settings_ = build_config(profile, run_config=run, data_dir=None)
    context = StageContext(config=run, device="cpu", side="reference")
    domains = np.random.default_rng(0).integers(0, 7, size=SPATIAL.shape[0]).astype(str)
    refine_inputs = {"cluster/domains": domains, "load/spatial": SPATIAL}
    reference = {
        "graph": reference_graph.run({"load/spatial": SPATIAL}, context, params)["config"],
        "refine": reference_refine.run(refine_inputs, context, params)["config"],
        # The train stage writes these settings under "hyper" (training itself is not run).
        "train": {"slice_config": params["slice_config"], "preset": params["preset"],
                  "hyper": TrainSettings.from_hyper(params["hyper"]).to_dict()},
        "pseudo_labels": {"k": params["hyper"]["k"], "random_state": 0, "n_init": 10},
    }
    candidate = {
        "graph": candidate_graph.run({"load/spatial": SPATIAL}, context, settings_)["config"],
        "refine": candidate_refine.run(refine_inputs, context, settings_)["config"],
        "train": {**settings_.header(), **settings_.train.to_dict()},
        "pseudo_labels": {**settings_.header(), "n_pseudo_labels": settings_.n_pseudo_labels,
                          "random_state": settings_.pseudo_label_seed, "n_init": 10},
    }
    return reference, candidate


def test_real_legacy_profile_named(tmp_path):
    reference, candidate = real_stage_configs("legacy")
    result = judge(tmp_path, reference, candidate)
    assert result.status == "fail"
    lines = result.details["differences"]
    for expected in (
        "num_neigh: reference 5, candidate 3",
        "k: reference 80, candidate 300",
        "tau: reference 35, candidate 30",
        "num_epochs: reference 300, candidate 200",
        "learning_rate: reference 0.0005, candidate 0.001",
        "drop_feature_rate_2: reference 0.2, candidate 0.3",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert result.observed == 6
    assert "drop_feature_rate_2 (reference 0.2, candidate 0.3)" in result.diagnosis


def test_real_strict_profile_passes(tmp_path):
    reference, candidate = real_stage_configs("strict")
    result = judge(tmp_path, reference, candidate)
    assert result.status == "pass"
    assert {"tau", "num_neigh", "k", "radius", "seed", "python_seed"} <= set(
        result.details["compared"]
    )
    assert "activation" in result.details["only_reference"]


@pytest.mark.parametrize("mode", ["chained"])
def test_no_shared_config_skips(tmp_path, mode):
    context = make_context(tmp_path, {"load": {"barcodes": NAMES}}, {"load": {"barcodes": NAMES}})
    [result] = config_check.check_hyperparameters(context, mode)
    assert result.status == "skip"
