"""Invalid options of calibrate and attribute: exit code 2, a message that names the value."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.synth import write_synthetic_slice


@pytest.fixture(scope="module")
def small_slice(tmp_path_factory):
    return write_synthetic_slice(tmp_path_factory.mktemp("slice") / "s", n_spots=100, seed=1,
                                 n_genes=300)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["calibrate", "--seed-list", "1,x"], "--seed-list '1,x': expected integers"),
        (["calibrate", "--seed-list", "3,3"], "--seed-list '3,3': seed(s) [3] repeat"),
        (["calibrate", "--seed-list", "3"], "at least 2 different seeds"),
        (["calibrate", "--seeds", "1"], "at least 2 different seeds"),
        (["calibrate", "--margin", "-0.1", "--seeds", "2"], "--margin -0.1"),
        (["calibrate", "--seed", "4"], "sets the seeds itself"),
        (["calibrate", "--executor", "slurm"], "--slurm-partition"),
        (["attribute", "--stages", "graph,nosuchstage"], "unknown stage(s) ['nosuchstage']"),
        (["attribute", "--stages", "metrics"], "metrics cannot be swapped"),
        (["attribute", "--stages", "load"], "stages that can be swapped: patches, "),
        (["attribute", "--seed-list", "2,0,2"], "--seed-list '2,0,2': seed(s) [2] repeat"),
        (["attribute", "--confidence", "1.5"], "--confidence 1.5: expected a level"),
    ],
)
def test_bad_matrix_options_exit_2_with_message(
    argv, message, capsys, tmp_path, monkeypatch, small_slice
):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))

    code = main([*argv, "--data", str(small_slice)])

    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cache" / "runs").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["calibrate", "--seeds", "1"],
        ["attribute", "--stages", "nosuchstage"],
        ["attribute", "--seed-list", "1,x"],
        ["attribute", "--seed-list", "1,1"],
        ["calibrate", "--seed-list", "4,4"],
        ["attribute", "--confidence", "0"],
    ],
)
def test_option_errors_come_before_building_synthetic_slice(argv, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))

    assert main(argv) == 2
    assert not (tmp_path / "cache").exists()


def test_calibrate_two_seeds_warns_one_pair(tmp_path, monkeypatch, capsys, small_slice):
    import harness.calibrate.command as command

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(command, "calibrate", lambda **kwargs: [])

    assert main(["calibrate", "--seed-list", "3,7", "--data", str(small_slice)]) == 0
    assert "2 seeds make one seed pair" in capsys.readouterr().err
    assert main(["calibrate", "--seeds", "3", "--data", str(small_slice)]) == 0
    assert "seed pair" not in capsys.readouterr().err


def test_legacy_on_small_slice_fails_before_jobs(tmp_path, monkeypatch, capsys, small_slice):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))

    code = main(["attribute", "--candidate", "legacy", "--data", str(small_slice)])

    err = capsys.readouterr().err
    assert code == 2
    assert "the candidate (legacy) needs at least 300 spots" in err
    assert "300 image pseudo-label clusters of the legacy profile" in err
    assert "--spots 320" in err
    assert not list((tmp_path / "cache" / "jobs").glob("*/*"))
    assert not list((tmp_path / "cache" / "runs").glob("*/reference-*"))
