"""Image features stage: BYOL on a small ResNet, weights provenance, refusal without weights."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from harness.config import RunConfig
from harness.errors import InputError, MissingDependencyError, MissingFileError
from reference.image.byol import build_learner, embed_patches
from reference.image.encoders import patches_to_tensor
from reference.stages import image_features
from reference.stages.image_features import select_training_patches
from tests.reference._image_fakes import FakeContext, quick_params

# Tiny settings: 6 patches of 48 px, BYOL on 4 of them in batches of 3 (a batch
# of 3 and one of 1, which is skipped), at 32 px.
TINY = {
    "encoder": "resnet18",
    "encoder_input_size": 32,
    "byol_batch_size": 3,
    "byol_max_patches": 4,
    "embed_batch_size": 4,
}


def tiny_patches() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)


def run_features(config: RunConfig, **image) -> dict:
    params = quick_params(**{**TINY, **image})
    return image_features.run({"patch_filter/filtered": tiny_patches()}, FakeContext(config=config), params)


@pytest.fixture(scope="module")
def random_init_runs() -> tuple[dict, dict]:
    config = RunConfig(allow_random_init=True)
    return run_features(config, dtype="float64"), run_features(config, dtype="float64")


def test_random_init_shape_and_record(random_init_runs):
    result, _ = random_init_runs
    features = result["features"]
    assert features.shape == (6, 512)
    assert features.dtype == np.float64
    assert np.isfinite(features).all()
    assert features.std(axis=0).max() > 0
    encoder = result["encoder"]
    assert encoder["weights"] == "random init"
    assert encoder["allow_random_init"] is True
    assert encoder["requested"] == "resnet18"
    assert encoder["parameter_count"] == 11_689_512
    assert encoder["input_size"] == 32
    assert encoder["normalisation_at_embedding"] == "none, [0,1] scaling"
    assert encoder["byol"]["n_training_patches"] == 4
    assert encoder["byol"]["steps"] == 1
    assert encoder["byol"]["skipped_single_batches"] == 1
    assert len(encoder["byol"]["losses"]) == 1
    assert result["config"]["seed"] == 42
    assert result["config"]["dtype"] == "float64"
    assert encoder["dtype"] == "float64"
    assert result["config"]["reductions"]["encoder"] == {"published": "resnet50", "used": "resnet18"}


def test_random_init_is_deterministic(random_init_runs):
    first, second = random_init_runs
    np.testing.assert_array_equal(first["features"], second["features"])
    assert first["encoder"]["byol"]["losses"] == second["encoder"]["byol"]["losses"]


def test_missing_weights_raise():
    with pytest.raises(MissingDependencyError, match=r"--weights resnet18=PATH.*--allow-random-init"):
        run_features(RunConfig())


def test_weights_file_loaded_and_hashed(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.manual_seed(7)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    result = run_features(RunConfig(weights={"resnet18": str(path)}), byol_epochs=0)

    assert result["encoder"]["weights"] == {"path": str(path.resolve()), "sha256": digest}
    assert result["encoder"]["allow_random_init"] is False
    assert result["encoder"]["byol"]["steps"] == 0
    assert result["features"].shape == (6, 512)


def test_mismatched_weights_raise(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="does not match torchvision's resnet18"):
        run_features(RunConfig(weights={"resnet18": str(path)}))


def test_weights_not_state_dict_raise(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(InputError, match="not a state_dict"):
        run_features(RunConfig(weights={"resnet18": str(path)}))


def test_missing_weights_file_raises(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        run_features(RunConfig(weights={"resnet18": str(tmp_path / "absent.pth")}))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("byol_batch_size", 1), ("byol_epochs", -1), ("embed_batch_size", 0),
        ("dtype", "float16"), ("encoder", "vit"),
    ],
)
def test_invalid_settings_raise(setting, value):
    with pytest.raises(InputError, match=setting if setting != "encoder" else "Unknown image encoder"):
        run_features(RunConfig(allow_random_init=True), **{setting: value})


def test_float32_model_option():
    result = run_features(RunConfig(allow_random_init=True), dtype="float32")
    assert result["features"].dtype == np.float64
    assert result["features"].shape == (6, 512)
    assert result["encoder"]["dtype"] == "float32"
    assert result["config"]["dtype"] == "float32"


def test_single_patch_raises():
    params = quick_params(**TINY)
    single = tiny_patches()[:1]
    with pytest.raises(InputError, match="at least 2 spots"):
        image_features.run({"patch_filter/filtered": single}, FakeContext(config=RunConfig(allow_random_init=True)), params)


def test_training_subset_draw():
    subset = select_training_patches(3639, max_patches=256, seed=42)
    assert len(subset) == 256
    assert len(np.unique(subset)) == 256
    assert (np.diff(subset) > 0).all()
    np.testing.assert_array_equal(subset, select_training_patches(3639, max_patches=256, seed=42))
    np.testing.assert_array_equal(select_training_patches(10, max_patches=None, seed=42), np.arange(10))
    np.testing.assert_array_equal(select_training_patches(10, max_patches=50, seed=42), np.arange(10))
    with pytest.raises(InputError, match="byol_max_patches"):
        select_training_patches(10, max_patches=1, seed=42)


def test_patch_tensor_is_scaled_not_normalised():
    patches = tiny_patches()
    tensor = patches_to_tensor(patches, np.array([4, 1]), size=20)
    assert tensor.shape == (2, 3, 20, 20)
    assert tensor.dtype == torch.float64
    resized = np.asarray(Image.fromarray(patches[1]).resize((20, 20), Image.Resampling.BILINEAR))
    expected = torch.from_numpy(resized).permute(2, 0, 1).float().div(255).double()
    torch.testing.assert_close(tensor[1], expected, rtol=0, atol=0)


def test_embedding_is_avgpool_output():
    torch.manual_seed(3)
    learner = build_learner(torchvision.models.resnet18(weights=None), image_size=32, device="cpu")
    patches = tiny_patches()
    features = embed_patches(learner, patches, image_size=32, batch_size=4, device="cpu")

    trunk = torch.nn.Sequential(*list(learner.net.children())[:-1]).eval()
    with torch.no_grad():
        direct = trunk(patches_to_tensor(patches, np.arange(6), size=32)).flatten(1).numpy()
    np.testing.assert_allclose(features, direct, rtol=1e-12, atol=1e-12)


def test_byol_step_passes_views_separately():
    torch.manual_seed(0)
    learner = build_learner(torchvision.models.resnet18(weights=None), image_size=32, device="cpu")
    # The build runs one mock step: two views, so two batch-norm updates.
    assert int(learner.net.bn1.num_batches_tracked) == 2

    learner.train()
    loss = learner(torch.rand(3, 3, 32, 32, dtype=torch.float64))

    assert int(learner.net.bn1.num_batches_tracked) == 4
    assert loss.dtype == torch.float64
    assert loss.ndim == 0
    assert 0 <= float(loss) <= 8  # two terms of 2 - 2 cos, averaged over the batch
