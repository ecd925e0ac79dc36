"""Diagnoses of the image_features and image_embedding stages on planted divergences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.diagnose import image_embedding, image_features
from harness.diagnose.image_features import encoder_identity
from tests.diagnose._fixtures_image import build_context, disc_positions, load_stage, make_barcodes

N_SPOTS = 80

# The reference's encoder record, with the keys reference/stages/image_features.py writes.
REFERENCE_RECORD = {
    "requested": "resnet50",
    "architecture": "torchvision.models.resnet50",
    "parameter_count": 23_508_032,
    "weights": {"path": "/weights/resnet50.pt", "sha256": "a" * 64},
    "allow_random_init": False,
    "input_size": 256,
    "normalisation_at_embedding": "none, [0,1] scaling",
    "embedding": "avgpool output, 2048 values",
    "dtype": "float64",
    "byol": {"epochs": 1, "batch_size": 43},
}

# The built-in candidate's record when strict staig_fusion is asked for UNI2 (full preset).
UNI_FOR_UNI2_RECORD = {
    "requested": "uni2",
    "actual": "uni",
    "architecture": "ViT-L/16 (UNI), 1024-d class token",
    "timm_model": "vit_large_patch16_224",
    "param_count": 303_350_016,
    "weights": {"path": "/weights/uni.bin", "sha256": "b" * 64},
    "allow_random_init": False,
    "input_size": 224,
}


def _features(seed: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N_SPOTS, width))


def _context(tmp_path, *, reference, candidate, isolated=None):
    barcodes = make_barcodes(N_SPOTS)
    load = load_stage(barcodes, disc_positions(N_SPOTS, seed=0))
    return build_context(
        tmp_path / "runs",
        reference={"load": load, **reference},
        candidate={"load": load, **candidate},
        isolated=isolated,
    )


def _only(results):
    assert len(results) == 1
    return results[0]


# -- image_features.encoder ------------------------------------------------------


def test_encoder_substitution_fails(tmp_path):
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 8), "encoder": UNI_FOR_UNI2_RECORD}},
    )

    result = _only(image_features.check_encoder(context, "chained"))

    assert result.status == "fail"
    assert result.check_id == "image_features.encoder"
    assert result.diagnosis == "UNI2 was requested but UNI (ViT-L/16, 303M parameters) was used"
    assert result.details["reference"]["used"] == "resnet50"
    assert result.details["reference"]["training"] == "BYOL"
    assert result.details["reference"]["param_count"] == 23_508_032
    assert result.details["candidate"]["weights"] == "b" * 64


def test_encoder_as_requested_passes(tmp_path):
    record = {**UNI_FOR_UNI2_RECORD, "requested": "uni"}
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 8), "encoder": record}},
    )

    result = _only(image_features.check_encoder(context, "chained"))

    assert result.status == "pass"
    assert result.diagnosis == ""
    assert "reference BYOL resnet50" in result.description


def test_encoder_record_without_actual_errors(tmp_path):
    record = {key: value for key, value in UNI_FOR_UNI2_RECORD.items() if key != "actual"}
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 8), "encoder": record}},
    )

    result = _only(image_features.check_encoder(context, "chained"))

    assert result.status == "error"
    assert "expected keys 'requested' and 'actual'" in result.description


def test_encoder_stand_in_of_quick_preset(tmp_path):
    from candidate.encoders.embed import build_encoder
    from candidate.encoders.selection import choose_encoder

    choice = choose_encoder("uni2", profile="strict", quick_stand_in="vit_tiny_patch16_224")
    _, record = build_encoder(choice, weights={}, allow_random_init=True)
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 8), "encoder": record}},
    )

    result = _only(image_features.check_encoder(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis == (
        "UNI2 was requested but UNI was selected; vit_tiny_patch16_224 (ViT-Ti/16 at 32 px input, "
        "5.49M parameters) ran in its place as the quick preset's stand-in"
    )


def test_encoder_identity_reads_alternative_keys():
    identity = encoder_identity(
        {
            "requested_encoder": "uni2",
            "actual_encoder": "uni2",
            "n_parameters": 681_000_000,
            "weights_sha256": "c" * 64,
            "architecture": "ViT-H/14 with SwiGLU MLP (UNI2-h), 1536-d",
        }
    )

    assert identity.requested == "uni2"
    assert identity.used == "uni2"
    assert identity.weights == "c" * 64
    assert identity.describe_built() == "ViT-H/14 with SwiGLU MLP, 681M parameters"


def test_encoder_identity_of_random_reference():
    identity = encoder_identity({**REFERENCE_RECORD, "weights": "random init"})

    assert identity.weights == "random init"
    assert identity.label() == "BYOL resnet50"


# -- image_features.features ------------------------------------------------------


def test_features_of_other_encoders(tmp_path):
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 2048), "encoder": REFERENCE_RECORD}},
        candidate={
            "image_features": {
                "features": _features(1, 1024),
                "encoder": {**UNI_FOR_UNI2_RECORD, "requested": "uni"},
            }
        },
    )

    result = _only(image_features.check_features(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("reference BYOL resnet50 (2048-d) vs candidate uni (1024-d)")


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1), extra=st.integers(0, 5))
def test_features_rotated_and_widened_pass(tmp_path_factory, seed, extra):
    reference = _features(seed, 6)
    rotation, _ = np.linalg.qr(np.random.default_rng(seed + 1).normal(size=(6 + extra, 6 + extra)))
    candidate = 3.0 * np.hstack([reference, np.zeros((N_SPOTS, extra))]) @ rotation + 5.0
    context = _context(
        tmp_path_factory.mktemp("rotated"),
        reference={"image_features": {"features": reference, "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": candidate, "encoder": REFERENCE_RECORD}},
    )

    result = _only(image_features.check_features(context, "chained"))

    assert result.status == "pass"
    assert result.observed == pytest.approx(1.0)


def test_features_of_other_weights(tmp_path):
    other = {**REFERENCE_RECORD, "weights": {"path": "/elsewhere.pt", "sha256": "d" * 64}}
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 16), "encoder": other}},
    )

    result = _only(image_features.check_features(context, "chained"))

    assert result.diagnosis == (
        "both sides use BYOL resnet50 but with different weights (reference sha256 aaaaaaaaaaaa…, "
        "candidate sha256 dddddddddddd…)"
    )


def test_features_of_same_encoder_differ(tmp_path):
    context = _context(
        tmp_path,
        reference={"image_features": {"features": _features(0, 16), "encoder": REFERENCE_RECORD}},
        candidate={"image_features": {"features": _features(1, 16), "encoder": REFERENCE_RECORD}},
    )

    result = _only(image_features.check_features(context, "chained"))

    assert result.diagnosis.startswith(
        "both sides use BYOL resnet50 with the same weights, yet the features differ"
    )


def test_features_join_by_barcode(tmp_path):
    barcodes = make_barcodes(N_SPOTS)
    positions = disc_positions(N_SPOTS, seed=0)
    order = np.random.default_rng(2).permutation(N_SPOTS)
    features = _features(0, 16)
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load_stage(barcodes, positions),
            "image_features": {"features": features, "encoder": REFERENCE_RECORD},
        },
        candidate={
            "load": load_stage(barcodes[order], positions[order]),
            "image_features": {"features": features[order], "encoder": REFERENCE_RECORD},
        },
    )

    result = _only(image_features.check_features(context, "chained"))

    assert result.status == "pass"
    assert result.observed == pytest.approx(1.0)


# -- image_embedding.img_emb --------------------------------------------------------


def test_embedding_identical_passes(tmp_path):
    embedding = _features(3, 16)
    context = _context(
        tmp_path,
        reference={"image_embedding": {"img_emb": embedding}},
        candidate={"image_embedding": {"img_emb": embedding}},
    )

    result = _only(image_embedding.check_img_emb(context, "chained"))

    assert result.status == "pass"
    assert result.check_id == "image_embedding.img_emb"


def test_embedding_inherits_feature_difference(tmp_path):
    context = _context(
        tmp_path,
        reference={
            "image_features": {"features": _features(0, 32), "encoder": REFERENCE_RECORD},
            "image_embedding": {"img_emb": _features(2, 16)},
        },
        candidate={
            "image_features": {"features": _features(1, 24), "encoder": UNI_FOR_UNI2_RECORD},
            "image_embedding": {"img_emb": _features(3, 16)},
        },
    )

    result = _only(image_embedding.check_img_emb(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("the image features already differ (CKA ")
    assert result.details["features_cka"] < 0.95


def test_embedding_differs_on_same_features(tmp_path):
    features = _features(0, 32)
    context = _context(
        tmp_path,
        reference={
            "image_features": {"features": features, "encoder": REFERENCE_RECORD},
            "image_embedding": {"img_emb": _features(2, 16)},
        },
        candidate={
            "image_features": {"features": features, "encoder": REFERENCE_RECORD},
            "image_embedding": {"img_emb": _features(3, 16)},
        },
    )

    result = _only(image_embedding.check_img_emb(context, "chained"))

    assert result.diagnosis.startswith(
        "the image features agree (CKA 1.000) but the embeddings do not"
    )


def test_embedding_differs_in_isolation(tmp_path):
    embedding = _features(2, 16)
    context = _context(
        tmp_path,
        reference={"image_embedding": {"img_emb": embedding}},
        candidate={"image_embedding": {"img_emb": embedding}},
        isolated={"image_embedding": {"img_emb": _features(4, 16)}},
    )

    result = _only(image_embedding.check_img_emb(context, "isolated"))

    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "the image embeddings differ although both sides read the same image features"
    )
