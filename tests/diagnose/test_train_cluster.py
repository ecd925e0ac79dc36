"""train.embedding, cluster.backend, cluster.domains and refine.agreement on planted cases."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.stats import special_ortho_group
from sklearn.cluster import KMeans

from harness.diagnose import cluster, reclustering, refine, train
from harness.errors import MissingDependencyError

from ._fixtures_graph import barcodes, hex_grid, load_stage, make_context, two_bars

KMEANS_FALLBACK_END = (
    ": the candidate fell back to KMeans silently (its backend record names no algorithm)"
)

MCLUST_BACKEND = {"algorithm": "mclust", "model": "EEE", "G": 2, "seed": 2023}


@pytest.fixture(scope="module")
def r_session():
    """Start R with mclust once, or skip with the reason it is unavailable."""
    if importlib.util.find_spec("rpy2") is None:
        pytest.skip("rpy2 is not installed")
    from reference import mclust

    try:
        return mclust._load_r()
    except MissingDependencyError as error:
        pytest.skip(f"R with mclust is not available: {error}")


# -- train.embedding ---------------------------------------------------------------------------

N_SPOTS = 300
NAMES = barcodes(N_SPOTS)
SPATIAL = hex_grid(15, 20)
EMB = np.random.default_rng(0).normal(size=(N_SPOTS, 16))


def train_context(tmp_path, candidate_emb, *, candidate_loss=None, order=None):
    order = np.arange(N_SPOTS) if order is None else order
    reference_loss = np.linspace(9.0, 5.0, 300)
    candidate_loss = reference_loss if candidate_loss is None else candidate_loss
    reference = {"load": load_stage(NAMES, SPATIAL),
                 "train": {"emb": EMB, "loss": reference_loss, "config": {}}}
    candidate = {"load": load_stage(NAMES[order], SPATIAL[order]),
                 "train": {"emb": candidate_emb[order], "loss": candidate_loss, "config": {}}}
    return make_context(tmp_path, reference, candidate)


def test_rotated_embedding_passes(tmp_path):
    rotation = special_ortho_group.rvs(16, random_state=1)
    order = np.random.default_rng(2).permutation(N_SPOTS)
    context = train_context(tmp_path, 2.5 * EMB @ rotation + 1.0, order=order)
    [result] = train.check_embedding(context, "chained")
    assert result.check_id == "train.embedding"
    assert result.metric == "cka"
    assert result.status == "pass"
    assert result.observed == pytest.approx(1.0)
    assert result.details["knn_overlap"]["observed"] == pytest.approx(1.0)
    assert result.diagnosis.startswith("the embeddings agree as representations (CKA 1 >= 0.9")
    assert "reference 300 epochs, final loss 5" in result.diagnosis


def test_noise_embedding_fails(tmp_path):
    noise = np.random.default_rng(3).normal(size=EMB.shape)
    context = train_context(tmp_path, noise, candidate_loss=np.linspace(9.0, 7.5, 200))
    [result] = train.check_embedding(context, "chained")
    assert result.status == "fail"
    assert result.observed < 0.9
    assert "the embeddings differ beyond the thresholds (CKA" in result.diagnosis
    assert "kNN overlap" in result.diagnosis
    assert "candidate 200 epochs, final loss 7.5" in result.diagnosis
    assert "the candidate trained 200 epochs, the reference 300 (num_epochs)" in result.diagnosis
    assert result.details["loss"]["candidate"]["epochs"] == 200


def test_neighbourhoods_fail_despite_cka(tmp_path):
    # Small noise keeps the global geometry (CKA 0.92) but moves 38 % of the neighbours.
    noisy = EMB + np.random.default_rng(4).normal(scale=0.3, size=EMB.shape)
    context = train_context(tmp_path, noisy)
    context.thresholds.override("train.embedding", "knn_overlap", 0.7, source="user")
    [result] = train.check_embedding(context, "chained")
    assert result.observed >= 0.9
    assert result.status == "fail"
    assert "mean kNN overlap 0.6253 < 0.7 (user threshold)" in result.forced_failure
    assert "CKA 0.9211 >= 0.9" in result.diagnosis
    assert result.n_offending > 0


def test_nonfinite_loss_is_named(tmp_path):
    loss = np.linspace(9.0, 5.0, 300)
    loss[40:] = np.nan
    context = train_context(tmp_path, EMB.copy(), candidate_loss=loss)
    [result] = train.check_embedding(context, "chained")
    assert "non-finite from epoch 41" in result.diagnosis


# -- cluster.backend ------------------------------------------------------------------------------

POINTS, BARS = two_bars()
BAR_NAMES = barcodes(POINTS.shape[0], prefix="BAR")
BAR_SPATIAL = hex_grid(12, 20)


def cluster_context(tmp_path, candidate_domains, *, candidate_backend, reference_domains=None,
                    with_embedding=True):
    reference_domains = (BARS + 1).astype(str) if reference_domains is None else reference_domains
    candidate = {
        "load": load_stage(BAR_NAMES, BAR_SPATIAL),
        "cluster": {"domains": np.asarray(candidate_domains).astype(str),
                    "backend": candidate_backend, "config": {"n_clusters": 2}},
    }
    if with_embedding:
        candidate["train"] = {"emb": POINTS, "loss": np.ones(3), "config": {}}
    reference = {
        "load": load_stage(BAR_NAMES, BAR_SPATIAL),
        "train": {"emb": POINTS, "loss": np.ones(3), "config": {}},
        "cluster": {"domains": reference_domains, "backend": MCLUST_BACKEND,
                    "config": {"num_clusters": 2}},
    }
    return make_context(tmp_path, reference, candidate)


def kmeans_domains():
    return KMeans(n_clusters=2, random_state=2023, n_init=10).fit_predict(POINTS) + 1


def test_recorded_algorithm_mismatch_fails(tmp_path):
    context = cluster_context(tmp_path, kmeans_domains(),
                              candidate_backend={"algorithm": "sklearn.cluster.KMeans"})
    [result] = cluster.check_backend(context, "chained")
    assert result.check_id == "cluster.backend"
    assert result.metric == "differing_fields"
    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "the candidate clustered with sklearn.cluster.KMeans, the reference with mclust"
    )
    assert result.details["backend"]["candidate_source"] == "recorded by the candidate"


def test_recorded_settings_compared_by_alias(tmp_path):
    same = {"algorithm": "mclust", "model_names": "EEE", "G": 2, "r_seed": 2023}
    context = cluster_context(tmp_path, BARS + 1, candidate_backend=same)
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "pass"

    other = {"algorithm": "Mclust", "model_names": "VVV", "G": 2, "r_seed": 1}
    context = cluster_context(tmp_path / "other", BARS + 1, candidate_backend=other)
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "fail"
    assert result.observed == 2
    assert "model: reference 'EEE', candidate 'VVV'" in result.diagnosis
    assert "seed: reference 2023, candidate 1" in result.diagnosis


@pytest.mark.needs_r
def test_silent_kmeans_fallback_found(tmp_path, r_session):
    context = cluster_context(tmp_path, kmeans_domains(), candidate_backend={"n_clusters": 2})
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "fail"
    assert result.diagnosis == (
        "the candidate's domains match KMeans (ARI 1.00), not mclust (ARI 0.00)"
        + KMEANS_FALLBACK_END
    )
    assert result.diagnosis.endswith(KMEANS_FALLBACK_END)
    assert result.details["backend"]["candidate"] == "kmeans"
    assert result.details["backend"]["candidate_source"].startswith("determined by the harness")
    assert result.details["reclustering"]["mclust_ari"] < 0.5


@pytest.mark.needs_r
def test_unrecorded_mclust_passes(tmp_path, r_session):
    from reference import mclust

    domains = mclust.run_mclust(POINTS, n_clusters=2).classification
    context = cluster_context(tmp_path, domains, candidate_backend={"n_clusters": 2})
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "pass"
    assert "its domains match mclust (ARI 1.00)" in result.diagnosis
    assert result.details["backend"]["candidate"] == "mclust"


@pytest.mark.needs_r
def test_unknown_backend_fails(tmp_path, r_session):
    domains = np.random.default_rng(5).integers(1, 3, size=POINTS.shape[0])
    context = cluster_context(tmp_path, domains, candidate_backend={})
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "fail"
    assert result.diagnosis.startswith("neither mclust (ARI")
    assert result.details["backend"]["candidate"] is None


def test_missing_bridge_is_error(tmp_path, monkeypatch):
    def no_module(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(reclustering, "_import_module", no_module)
    context = cluster_context(tmp_path, kmeans_domains(), candidate_backend={"n_clusters": 2})
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "error"
    assert "cannot run mclust" in result.description
    assert "reference.mclust" in result.description
    assert result.details["backend"]["candidate"] is None


def test_missing_r_is_error(tmp_path, monkeypatch):
    from reference import mclust

    real_import = mclust._import_module

    def without_rpy2(name):
        if name.startswith("rpy2"):
            raise ImportError("No module named 'rpy2'")
        return real_import(name)

    monkeypatch.setattr(mclust, "_import_module", without_rpy2)
    context = cluster_context(tmp_path, kmeans_domains(), candidate_backend={"n_clusters": 2})
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "error"
    assert "rpy2 is not installed" in result.description
    assert result.status != "pass"


def test_missing_embedding_is_error(tmp_path):
    context = cluster_context(tmp_path, kmeans_domains(), candidate_backend={"n_clusters": 2},
                              with_embedding=False)
    [result] = cluster.check_backend(context, "chained")
    assert result.status == "error"
    assert "train/emb is not stored" in result.description


# -- cluster.domains and refine.agreement ----------------------------------------------------------


def test_renamed_domains_pass(tmp_path):
    renamed = np.where(BARS == 0, "7", "3")
    context = cluster_context(tmp_path, renamed, candidate_backend=MCLUST_BACKEND)
    [result] = cluster.check_domains(context, "chained")
    assert result.check_id == "cluster.domains"
    assert result.status == "pass"


def test_other_domains_fail(tmp_path):
    context = cluster_context(tmp_path, kmeans_domains(), candidate_backend={"n_clusters": 2})
    [result] = cluster.check_domains(context, "chained")
    assert result.status == "fail"
    assert result.diagnosis.startswith("the sides' domains have ARI 0.00 (2 reference")
    assert "names no algorithm, see cluster.backend" in result.diagnosis


def refine_context(tmp_path, *, candidate_domains, candidate_refined, candidate_radius):
    domains = (BARS + 1).astype(str)
    reference = {
        "load": load_stage(BAR_NAMES, BAR_SPATIAL),
        "cluster": {"domains": domains, "backend": MCLUST_BACKEND, "config": {}},
        "refine": {"refined": domains, "config": {"radius": 15}},
    }
    candidate = {
        "load": load_stage(BAR_NAMES, BAR_SPATIAL),
        "cluster": {"domains": candidate_domains, "backend": MCLUST_BACKEND, "config": {}},
        "refine": {"refined": candidate_refined, "config": {"refine_neighbours": candidate_radius}},
    }
    return make_context(tmp_path, reference, candidate)


def test_other_radius_is_named(tmp_path):
    domains = (BARS + 1).astype(str)
    scrambled = np.random.default_rng(6).permutation(domains)
    context = refine_context(tmp_path, candidate_domains=domains, candidate_refined=scrambled,
                             candidate_radius=10)
    [result] = refine.check_agreement(context, "chained")
    assert result.check_id == "refine.agreement"
    assert result.status == "fail"
    assert "the candidate refines with the 10 nearest spots, the reference with 15 (radius)" in (
        result.diagnosis
    )
    assert "the domains agree before refinement" in result.diagnosis


def test_inherited_domain_difference_named(tmp_path):
    scrambled = np.random.default_rng(7).permutation((BARS + 1).astype(str))
    context = refine_context(tmp_path, candidate_domains=scrambled, candidate_refined=scrambled,
                             candidate_radius=15)
    [result] = refine.check_agreement(context, "chained")
    assert result.status == "fail"
    assert "the domains already differ before refinement" in result.diagnosis
    assert "radius" not in result.diagnosis
