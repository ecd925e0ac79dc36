"""Encoder choice, weights and the encoder artifact of both profiles."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from candidate.encoders.embed import build_encoder
from candidate.encoders.registry import ENCODERS, count_parameters, get_encoder
from candidate.encoders.selection import choose_encoder
from candidate.pipeline import StaigFusion
from harness.errors import InputError, MissingDependencyError

SMALL = "vit_tiny_patch16_224"


def run_features(profile: str, make_context, patches: np.ndarray, **config) -> dict:
    context = make_context(slice_config="151673", **config)
    return StaigFusion(profile=profile).stage_image_features(
        {"patch_filter/filtered": patches}, context
    )


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)


def test_strict_records_uni2_request_as_uni(make_context, patches: np.ndarray) -> None:
    outputs = run_features("strict", make_context, patches, options={"encoder": "uni2"})
    encoder = outputs["encoder"]

    assert encoder["requested"] == "uni2"
    assert encoder["stand_in_for"] == "uni"
    assert encoder["actual"] == SMALL
    assert encoder["param_count"] == count_parameters(get_encoder(SMALL).build())
    assert encoder["weights"] == "random init"


def test_legacy_keeps_uni2_request(make_context, patches: np.ndarray) -> None:
    outputs = run_features("legacy", make_context, patches, options={"encoder": "uni2"})

    assert outputs["encoder"]["requested"] == "uni2"
    assert outputs["encoder"]["stand_in_for"] == "uni2"


@pytest.mark.parametrize(
    ("profile", "requested", "expected"),
    [
        ("strict", "uni2", "uni"),
        ("strict", "uni", "uni"),
        ("legacy", "uni2", "uni2"),
        ("legacy", "uni", "uni"),
        ("strict", SMALL, SMALL),
    ],
)
def test_staig_preset_builds_selected_encoder(profile: str, requested: str, expected: str) -> None:
    choice = choose_encoder(requested, profile=profile, quick_stand_in=None)

    assert choice.spec.name == expected
    assert choice.stand_in_for is None


def test_strict_uni2_request_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="candidate.encoders.selection"):
        choose_encoder("uni2", profile="strict", quick_stand_in=None)

    assert "UNI" in caplog.text


def test_unknown_encoder_raises() -> None:
    with pytest.raises(InputError, match="unknown image encoder 'conch'"):
        choose_encoder("conch", profile="strict", quick_stand_in=None)


def test_missing_weights_raise(make_context, patches: np.ndarray) -> None:
    with pytest.raises(MissingDependencyError, match="--weights vit_tiny_patch16_224=PATH"):
        run_features("strict", make_context, patches, allow_random_init=False)


def test_weights_file_loaded_and_digested(
    make_context, patches: np.ndarray, tmp_path: Path
) -> None:
    torch.manual_seed(123)
    reference = get_encoder(SMALL).build()
    path = tmp_path / "tiny.pt"
    torch.save(reference.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    outputs = run_features(
        "strict", make_context, patches, allow_random_init=False, weights={SMALL: str(path)}
    )

    assert outputs["encoder"]["weights"] == {"path": str(path.resolve()), "sha256": digest}
    reference.eval()
    with torch.inference_mode():
        images = torch.from_numpy(patches).permute(0, 3, 1, 2).float() / 255.0
        images = torch.nn.functional.interpolate(
            images, size=(32, 32), mode="bilinear", antialias=True
        )
        mean = torch.tensor(get_encoder(SMALL).mean).view(1, 3, 1, 1)
        std = torch.tensor(get_encoder(SMALL).std).view(1, 3, 1, 1)
        expected = reference((images - mean) / std).numpy()
    np.testing.assert_allclose(outputs["features"], expected, rtol=1e-5, atol=1e-6)


def test_mismatched_weights_raise(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pt"
    torch.save({"not_a_layer": torch.zeros(3)}, path)
    choice = choose_encoder(SMALL, profile="strict", quick_stand_in=None)

    with pytest.raises(InputError, match="do not fit"):
        build_encoder(choice, weights={SMALL: str(path)}, allow_random_init=False)


def test_weights_not_state_dict_raise(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    choice = choose_encoder(SMALL, profile="strict", quick_stand_in=None)

    with pytest.raises(InputError, match="flat state dict"):
        build_encoder(choice, weights={SMALL: str(path)}, allow_random_init=False)


def test_encoder_artifact_fields(make_context, patches: np.ndarray) -> None:
    outputs = run_features("strict", make_context, patches)
    encoder = outputs["encoder"]

    for key in (
        "requested",
        "actual",
        "architecture",
        "param_count",
        "weights",
        "allow_random_init",
        "input_size",
        "normalisation",
        "device",
        "stand_in_for",
    ):
        assert key in encoder
    assert encoder["input_size"] == 32
    assert encoder["device"] == "cpu"
    assert outputs["features"].shape == (len(patches), 192)
    assert outputs["config"]["reductions"]["encoder"] == {"configured": "uni", "used": SMALL}


@pytest.mark.parametrize(
    ("name", "n_params", "width"),
    [("uni", 303_350_784, 1024), ("uni2", 681_394_176, 1536)],
)
def test_foundation_model_architectures(name: str, n_params: int, width: int) -> None:
    # Built on the meta device: shapes only, no memory for the weights.
    with torch.device("meta"):
        model = ENCODERS[name].build()

    assert count_parameters(model) == n_params
    assert model.num_features == width
