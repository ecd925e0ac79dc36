"""Image embedding stage: StandardScaler then a 16-component PCA, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from harness.config import RunConfig
from harness.errors import InputError
from reference.stages import image_embedding
from tests.reference._image_fakes import FakeContext, quick_params


def correlated_features(n_spots: int = 600, n_features: int = 512, *, seed: int = 0) -> np.ndarray:
    """Features with a low-rank structure and columns on very different scales."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n_spots, 20))
    loadings = rng.normal(size=(20, n_features))
    scales = np.logspace(-3, 3, n_features)
    return (factors @ loadings + 0.1 * rng.normal(size=(n_spots, n_features))) * scales + 5.0


def run_stage(features: np.ndarray) -> dict:
    context = FakeContext(config=RunConfig())
    return image_embedding.run({"image_features/features": features}, context, quick_params())


def test_embedding_shape_and_dtype():
    result = run_stage(correlated_features())
    assert result["img_emb"].shape == (600, 16)
    assert result["img_emb"].dtype == np.float64
    assert result["config"]["n_components"] == 16
    assert result["config"]["random_state"] == 42


def test_embedding_is_deterministic():
    features = correlated_features()
    np.testing.assert_array_equal(run_stage(features)["img_emb"], run_stage(features.copy())["img_emb"])


def test_embedding_matches_standardised_pca():
    features = correlated_features()
    standardised = (features - features.mean(axis=0)) / features.std(axis=0)
    expected = PCA(n_components=16, random_state=42, svd_solver="covariance_eigh").fit_transform(standardised)
    obtained = run_stage(features)["img_emb"]
    # The stage's solver may be randomized; components agree up to sign.
    signs = np.sign((expected * obtained).sum(axis=0))
    np.testing.assert_allclose(obtained * signs, expected, atol=1e-6 * np.abs(expected).max())


def test_embedding_columns_by_variance():
    img_emb = run_stage(correlated_features())["img_emb"]
    np.testing.assert_allclose(img_emb.mean(axis=0), 0, atol=1e-8)
    variances = img_emb.var(axis=0)
    assert (np.diff(variances) <= 1e-9).all()
    # The scaling makes every feature count: 20 latent factors carry the variance.
    assert variances[:16].sum() / 512 > 0.5


def test_solver_recorded():
    config = run_stage(correlated_features())["config"]
    assert config["svd_solver"] in {"auto (resolved to randomized)", "auto (resolved to full)",
                                    "auto (resolved to covariance_eigh)"}
    assert len(config["explained_variance_ratio"]) == 16


def test_memory_mapped_features(tmp_path):
    features = correlated_features(100, 40)
    np.save(tmp_path / "features.npy", features)
    mapped = np.load(tmp_path / "features.npy", mmap_mode="r")
    np.testing.assert_array_equal(run_stage(mapped)["img_emb"], run_stage(features)["img_emb"])


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (np.ones((10, 64)), "at least 16 spots"),
        (np.ones((100, 8)), "16 features"),
        (np.ones(100), "Invalid image features"),
    ],
    ids=["few-spots", "few-features", "one-dimensional"],
)
def test_invalid_features_raise(features, message):
    with pytest.raises(InputError, match=message):
        run_stage(features)


def test_non_finite_features_raise():
    features = correlated_features(50, 32)
    features[3, 5] = np.nan
    features[7, 1] = np.inf
    with pytest.raises(InputError, match="2 spots have NaN or infinite"):
        run_stage(features)
