"""The command line: help texts, exit codes and input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import EXIT_OK, EXIT_USAGE, build_parser, main


@pytest.mark.parametrize("command", ["synth", "run", "diff", "report", "demo"])
def test_every_command_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    assert exited.value.code == 0
    assert "usage: harness" in capsys.readouterr().out


def test_run_help_states_defaults_and_units(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "(default: quick)" in text
    assert "(default: auto)" in text
    assert "cuda without a GPU is an error" in text


def test_synth_help_states_units(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "100 µm" in text
    assert "(default: 2000)" in text


def test_unknown_command_is_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["frobnicate"])

    assert exited.value.code == EXIT_USAGE


def test_run_missing_data_folder_exits_2(tmp_path: Path, capsys) -> None:
    code = main([
        "run", "--side", "reference", "--data", str(tmp_path / "absent"),
        "--until", "load", "--out", str(tmp_path / "out"),
    ])

    assert code == EXIT_USAGE
    assert "not a folder" in capsys.readouterr().err


def test_bad_weights_option_exits_2(tmp_path: Path, capsys) -> None:
    code = main([
        "run", "--side", "reference", "--data", str(tmp_path),
        "--weights", "resnet50", "--out", str(tmp_path / "out"),
    ])

    assert code == EXIT_USAGE
    assert "expected ENCODER=PATH" in capsys.readouterr().err


def test_cuda_without_gpu_exits_2(tmp_path: Path, capsys) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the error path needs one without")

    code = main([
        "run", "--side", "reference", "--data", str(tmp_path), "--device", "cuda",
        "--until", "load", "--out", str(tmp_path / "out"),
    ])

    assert code == EXIT_USAGE
    assert "--device cuda was requested" in capsys.readouterr().err


def test_unknown_candidate_exits_2(tmp_path: Path, capsys) -> None:
    code = main([
        "run", "--side", "candidate", "--candidate", "mihd", "--data", str(tmp_path),
        "--until", "load", "--out", str(tmp_path / "out"),
    ])

    assert code == EXIT_USAGE
    assert "unknown candidate 'mihd'" in capsys.readouterr().err


def test_run_load_on_dlpfc(tmp_path: Path, dlpfc_151673: Path, capsys) -> None:
    code = main([
        "run", "--side", "reference", "--data", str(dlpfc_151673),
        "--until", "load", "--out", str(tmp_path / "ref"),
    ])

    assert code == EXIT_OK
    assert (tmp_path / "ref" / "load" / "manifest.json").is_file()
    assert "1 stage(s) computed" in capsys.readouterr().out


def test_diff_threads_zero_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["diff", "--threads", "0", "--data", str(tmp_path), "--out", str(tmp_path / "out")])

    assert code == EXIT_USAGE
    assert "--threads 0: expected 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_diff_threads_sets_torch_threads(tmp_path: Path, monkeypatch, capsys) -> None:
    import torch

    from harness.synth import write_synthetic_slice

    before = torch.get_num_threads()
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    data = write_synthetic_slice(tmp_path / "slice", n_spots=100, seed=2, n_genes=300)
    try:
        code = main([
            "diff", "--threads", "1", "--stage", "load", "--data", str(data),
            "--out", str(tmp_path / "out"),
        ])
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)

    assert code in (EXIT_OK, 1)
    assert threads == 1
    assert "torch uses 1 CPU thread(s) in this process" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.json").is_file()
