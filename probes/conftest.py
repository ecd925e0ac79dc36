"""Probes: one pytest test per named check of ``harness diff``, for a user's CI.

Run ``pytest probes/``. The diff runs once per session (run folders are
cached between sessions) and each test asserts one check. Settings come
from pytest options, else from the ``[tool.harness]`` table of the
``pyproject.toml`` in pytest's root folder, else from the defaults: the
strict candidate on the built-in synthetic slice with the quick preset.

``[tool.harness]`` keys: ``candidate``, ``data``, ``preset``, ``device``,
``isolate`` (bool), ``candidate_options`` (table), ``waivers`` (array of
``{check, reason}`` tables) and ``tolerances`` (table of
``"CHECK:METRIC" = value``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.compare.result import CheckResult
from harness.config import PRESETS, QUICK_ENCODER_PRESETS

def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the probe options."""
    group = parser.getgroup("harness", "differential testing probes")
    group.addoption("--candidate", default=None, help="legacy, strict, module:object or artifacts:DIR")
    group.addoption("--data", default=None, help="Space Ranger folder (default: built-in synthetic slice)")
    group.addoption("--preset", default=None, choices=PRESETS, help="pipeline preset")
    group.addoption("--harness-device", default=None, choices=("auto", "cpu", "cuda"), help="device")
    group.addoption("--harness-out", default=None, help="folder for the diff reports")


def _table(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle).get("tool", {}).get("harness", {})


@pytest.fixture(scope="session")
def harness_settings(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The effective probe settings: options over ``[tool.harness]`` over defaults."""
    table = _table(Path(pytestconfig.rootpath))
    option = pytestconfig.getoption
    return {
        "candidate": option("--candidate") or table.get("candidate", "strict"),
        "data": option("--data") or table.get("data"),
        "preset": option("--preset") or table.get("preset", "quick"),
        "device": option("--harness-device") or table.get("device", "auto"),
        "isolate": bool(table.get("isolate", False)),
        "candidate_options": dict(table.get("candidate_options", {})),
        "waivers": list(table.get("waivers", [])),
        "tolerances": dict(table.get("tolerances", {})),
        "out": option("--harness-out"),
    }


@pytest.fixture(scope="session")
def harness_checks(harness_settings: dict[str, Any], tmp_path_factory) -> dict[str, CheckResult]:
    """Run the diff once and return its checks by id."""
    from harness.config import RunConfig
    from harness.diff.command import run_diff
    from harness.diff.thresholds import parse_tolerance
    from harness.diff.waivers import waivers_from_records
    from harness.synth import default_synthetic_slice

    settings = harness_settings
    data = Path(settings["data"]) if settings["data"] else default_synthetic_slice()
    out = Path(settings["out"]) if settings["out"] else tmp_path_factory.mktemp("harness-report")
    config = RunConfig(
        preset=settings["preset"],
        device=settings["device"],
        allow_random_init=settings["preset"] in QUICK_ENCODER_PRESETS,
    )
    outcome = run_diff(
        data_dir=data,
        candidate=settings["candidate"],
        config=config,
        out_dir=out,
        candidate_options=settings["candidate_options"],
        isolate=settings["isolate"],
        waivers=waivers_from_records(settings["waivers"], source="pyproject"),
        tolerances=[parse_tolerance(f"{key}={value}") for key, value in settings["tolerances"].items()],
        command=["pytest", "probes/"],
    )
    return {check.check_id: check for check in outcome.report.checks}
