"""Ground-truth labels: sources, barcode join, missing values and dropping."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.data import (
    LabelSource,
    drop_unlabelled,
    join_labels,
    read_label_table,
    read_visium_slice,
)
from harness.errors import InputError, LabelJoinError, MissingFileError

SHARED_DATA = Path(
    os.environ.get(
        "HARNESS_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
SLICE_FILES = ("filtered_feature_bc_matrix.h5", "spatial")


def shared_dataset(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"real Visium data not found at {path}; set HARNESS_SHARED_DATA")
    return path


def linked_slice(tmp_path: Path, source: Path) -> Path:
    """Return a folder named like ``source`` that links its counts and spatial files only."""
    folder = tmp_path / source.name
    folder.mkdir()
    for name in SLICE_FILES:
        (folder / name).symlink_to(source / name)
    return folder


def read_truth_rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)


def write_truth_rows(path: Path, rows: pd.DataFrame) -> None:
    rows.to_csv(path, sep="\t", header=False, index=False)


@pytest.fixture(scope="module")
def dlpfc_673() -> Path:
    return shared_dataset("dlpfc", "151673")


# Sources


def test_auto_labels_use_truth_file(dlpfc_673):
    visium_slice = read_visium_slice(dlpfc_673)
    truth = visium_slice.adata.obs["truth"]

    assert visium_slice.labels_source == str(dlpfc_673 / "truth.txt")
    assert isinstance(truth.dtype, pd.CategoricalDtype)
    assert list(truth.cat.categories) == [
        "Layer1",
        "Layer2",
        "Layer3",
        "Layer4",
        "Layer5",
        "Layer6",
        "WM",
    ]
    assert truth.isna().sum() == 28
    assert truth["AAACAAGTATCTCCCA-1"] == "Layer3"
    assert truth.value_counts()["WM"] == 513


def test_auto_labels_fall_back_to_metadata(dlpfc_673, tmp_path):
    folder = linked_slice(tmp_path, dlpfc_673)
    (folder / "metadata.tsv").symlink_to(dlpfc_673 / "metadata.tsv")

    from_metadata = read_visium_slice(folder)
    from_truth = read_visium_slice(dlpfc_673)
    assert from_metadata.labels_source == f"{folder / 'metadata.tsv'}:layer_guess"
    pd.testing.assert_series_equal(from_metadata.adata.obs["truth"], from_truth.adata.obs["truth"])


def test_metadata_column_option_reads_column(dlpfc_673):
    visium_slice = read_visium_slice(dlpfc_673, labels="metadata:sample_name")

    assert visium_slice.labels_source.endswith("metadata.tsv:sample_name")
    assert list(visium_slice.adata.obs["truth"].cat.categories) == ["151673"]


def test_auto_without_label_files_has_none(dlpfc_673, tmp_path):
    visium_slice = read_visium_slice(linked_slice(tmp_path, dlpfc_673))

    assert visium_slice.labels_source is None
    assert "truth" not in visium_slice.adata.obs


def test_labels_none_skips_truth(dlpfc_673):
    visium_slice = read_visium_slice(dlpfc_673, labels=None)

    assert visium_slice.labels_source is None
    assert "truth" not in visium_slice.adata.obs


def test_label_path_option_reads_file(dlpfc_673, tmp_path):
    path = tmp_path / "layers.tsv"
    write_truth_rows(path, read_truth_rows(dlpfc_673 / "truth.txt"))

    visium_slice = read_visium_slice(dlpfc_673, labels=path)
    assert visium_slice.labels_source == str(path)
    assert visium_slice.adata.obs["truth"].isna().sum() == 28


@pytest.mark.parametrize(
    ("labels", "error", "pattern"),
    [
        pytest.param("layers", InputError, "Invalid `labels='layers'`", id="unknown-mode"),
        pytest.param("truth.txt", InputError, r"Path\(\.\.\.\)", id="string-path"),
        pytest.param("metadata:nope", InputError, "no column 'nope'", id="unknown-column"),
        pytest.param(Path("/nonexistent/labels.tsv"), MissingFileError, "not found", id="no-file"),
    ],
)
def test_invalid_label_option_raises(dlpfc_673, labels, error, pattern):
    with pytest.raises(error, match=pattern):
        read_visium_slice(dlpfc_673, labels=labels)


def test_truth_option_needs_truth_file(dlpfc_673, tmp_path):
    with pytest.raises(MissingFileError, match=r"`labels='truth'` needs .*truth\.txt"):
        read_visium_slice(linked_slice(tmp_path, dlpfc_673), labels="truth")


def test_metadata_without_barcode_column_raises(dlpfc_673, tmp_path):
    folder = linked_slice(tmp_path, dlpfc_673)
    (folder / "metadata.tsv").write_text("spot\tlayer_guess\nAAACAAGTATCTCCCA-1\tLayer3\n")

    with pytest.raises(InputError, match="no 'barcode' column"):
        read_visium_slice(folder)


# Join by barcode


def test_labels_of_other_slice_raise(tmp_path):
    folder = linked_slice(tmp_path, shared_dataset("dlpfc", "151673"))
    (folder / "truth.txt").symlink_to(shared_dataset("dlpfc", "151674") / "truth.txt")

    with pytest.raises(LabelJoinError) as info:
        read_visium_slice(folder)
    message = str(info.value)
    assert "3502 of 3639 spots have a label" in message
    assert "171 labels name barcodes that are not spots of this slice" in message
    assert "137 spots have no label row" in message
    assert "may belong to another slice" in message


def test_duplicated_label_barcodes_raise(dlpfc_673, tmp_path):
    folder = linked_slice(tmp_path, dlpfc_673)
    rows = read_truth_rows(dlpfc_673 / "truth.txt")
    write_truth_rows(folder / "truth.txt", pd.concat([rows, rows.iloc[[10]]]))

    with pytest.raises(
        LabelJoinError, match=rf"1 barcodes have more than one label row, e.g. '{rows.iloc[10, 0]}'"
    ):
        read_visium_slice(folder)


def test_missing_label_rows_raise(dlpfc_673, tmp_path):
    folder = linked_slice(tmp_path, dlpfc_673)
    rows = read_truth_rows(dlpfc_673 / "truth.txt")
    write_truth_rows(folder / "truth.txt", rows.iloc[5:])

    with pytest.raises(LabelJoinError, match="3634 of 3639 spots have a label. 5 spots have no"):
        read_visium_slice(folder)


def test_foreign_label_rows_raise(dlpfc_673, tmp_path):
    folder = linked_slice(tmp_path, dlpfc_673)
    rows = read_truth_rows(dlpfc_673 / "truth.txt")
    foreign = pd.DataFrame({0: ["AAAAAAAAAAAAAAAA-1", "CCCCCCCCCCCCCCCC-1"], 1: ["WM", "WM"]})
    write_truth_rows(folder / "truth.txt", pd.concat([rows, foreign]))

    with pytest.raises(LabelJoinError, match="2 labels name barcodes.*Remove the rows") as info:
        read_visium_slice(folder)
    assert "another slice" not in str(info.value)


def test_label_file_with_three_columns_raises(dlpfc_673, tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("AAACAAGTATCTCCCA-1\tLayer3\textra\n")

    with pytest.raises(InputError, match="3 tab-separated columns; expected 2"):
        read_visium_slice(dlpfc_673, labels=path)


def test_missing_label_values_become_na(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("A-1\tLayer1\nB-1\tNA\nC-1\t\nD-1\tnan\nE-1\tWM\n")
    spots = pd.Index(["E-1", "D-1", "C-1", "B-1", "A-1"])

    joined = join_labels(read_label_table(LabelSource(path=path)), spots, source=str(path))
    assert list(joined.index) == list(spots)
    assert joined.isna().tolist() == [False, True, True, True, False]
    assert list(joined.cat.categories) == ["Layer1", "WM"]
    assert joined["A-1"] == "Layer1"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_permuted_truth_rows_same_labels(seed):
    source = shared_dataset("dlpfc", "151673") / "truth.txt"
    rows = read_truth_rows(source)
    spots = pd.Index(rows[0])
    expected = join_labels(read_label_table(LabelSource(path=source)), spots, source="original")

    order = np.random.default_rng(seed).permutation(len(rows))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "truth.txt"
        write_truth_rows(path, rows.iloc[order])
        permuted = join_labels(read_label_table(LabelSource(path=path)), spots, source="permuted")

    pd.testing.assert_series_equal(permuted, expected)


@given(
    labels=st.lists(
        st.sampled_from(["Layer1", "Layer2", "WM", "NA"]), min_size=1, max_size=30
    ).flatmap(lambda values: st.tuples(st.just(values), st.permutations(range(len(values)))))
)
def test_join_ignores_label_row_order(labels):
    values, order = labels
    barcodes = [f"SPOT{i:03d}-1" for i in range(len(values))]
    table = pd.Series(
        [pd.NA if value == "NA" else value for value in values], index=pd.Index(barcodes)
    )
    spots = pd.Index(barcodes)

    joined = join_labels(table.iloc[list(order)], spots, source="generated")
    assert list(joined.index) == barcodes
    for barcode, value in zip(barcodes, values, strict=True):
        if value == "NA":
            assert pd.isna(joined[barcode])
        else:
            assert joined[barcode] == value


# Dropping unlabelled spots


def test_drop_unlabelled_logs_counts(dlpfc_673, caplog):
    visium_slice = read_visium_slice(dlpfc_673)
    with caplog.at_level(logging.INFO, logger="harness.data.visium"):
        dropped = drop_unlabelled(visium_slice)

    assert "Dropped 28 unlabelled spots of slice 151673; 3611 remain" in caplog.text
    assert dropped.adata.n_obs == 3611
    assert dropped.n_dropped_unlabelled == 28
    assert dropped.adata.obs["truth"].notna().all()
    assert visium_slice.adata.n_obs == 3639
    assert visium_slice.n_dropped_unlabelled == 0
    np.testing.assert_array_equal(
        dropped.adata.obsm["spatial"],
        visium_slice.adata[dropped.adata.obs_names].obsm["spatial"],
    )


def test_default_read_keeps_unlabelled(dlpfc_673):
    visium_slice = read_visium_slice(dlpfc_673)

    assert visium_slice.adata.n_obs == 3639
    assert visium_slice.n_dropped_unlabelled == 0


def test_drop_without_labels_raises(dlpfc_673):
    with pytest.raises(InputError, match="has no labels"):
        read_visium_slice(dlpfc_673, labels=None, drop_na_labels=True)


def test_drop_with_all_unlabelled_raises(dlpfc_673, tmp_path):
    path = tmp_path / "labels.tsv"
    rows = read_truth_rows(dlpfc_673 / "truth.txt")
    rows[1] = "NA"
    write_truth_rows(path, rows)

    with pytest.raises(InputError, match="Every one of the 3639 spots"):
        read_visium_slice(dlpfc_673, labels=path, drop_na_labels=True)
