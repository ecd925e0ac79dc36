"""``harness diff`` and ``harness report``: from options to reports and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compare.result import CheckResult
from harness.config import RunConfig
from harness.console import make_console
from harness.diff.engine import Capture, DiffOptions, Judgement, capture, judge
from harness.diff.thresholds import ThresholdBook, load_calibration, parse_tolerance
from harness.diff.waivers import Waiver, parse_waiver
from harness.errors import InputError
from harness.report import DataInfo, DiffReport, SideInfo, render_terminal, write_reports
from harness.report.status import exit_code

logger = logging.getLogger(__name__)

CACHE_ENV = "HARNESS_CACHE"


def cache_root() -> Path:
    """Return ``$HARNESS_CACHE``, or ``~/.cache/staig-harness``."""
    base = os.environ.get(CACHE_ENV)
    return Path(base) if base else Path("~/.cache/staig-harness").expanduser()


def calibration_path(cache_dir: Path, data_dir: Path, preset: str) -> Path:
    """Return where ``harness calibrate`` stores the calibration of a slice and preset."""
    return cache_dir / "calibration" / f"{data_dir.resolve().name}-{preset}.json"


@dataclass
class DiffOutcome:
    """Everything a diff produced: the report, the captured runs and the checks."""

    report: DiffReport
    capture: Capture
    judgement: Judgement
    written: dict[str, Path]


def parse_candidate_options(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items; VALUE is read as JSON when it parses, else as text."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"--candidate-option {item!r}: expected KEY=VALUE, e.g. simulate_no_r=true"
            raise InputError(msg)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_diff(
    *,
    data_dir: Path,
    candidate: str,
    config: RunConfig,
    out_dir: Path,
    candidate_options: Mapping[str, Any] | None = None,
    stage: str | None = None,
    until: str | None = None,
    isolate: bool = False,
    cache_dir: Path | None = None,
    waivers: Sequence[Waiver] = (),
    tolerances: Sequence[tuple[str, str, float]] = (),
    calibration: Path | None = None,
    force: bool = False,
    command: Sequence[str] = (),
) -> DiffOutcome:
    """Diff ``candidate`` against the reference and write the reports into ``out_dir``.

    Parameters mirror the ``harness diff`` options. A calibration file is
    used when given, or when ``harness calibrate`` stored one for this slice
    and preset; ``tolerances`` override both.
    """
    from harness.sides import candidate_implementation, reference_implementation

    cache_dir = cache_dir or cache_root()
    thresholds, calibration = load_thresholds(cache_dir, data_dir, config.preset, calibration)
    for check_id, metric, value in tolerances:
        thresholds.override(check_id, metric, value, source="user")

    options = DiffOptions(
        data_dir=data_dir,
        candidate=candidate,
        config=config,
        cache_dir=cache_dir,
        candidate_options=dict(candidate_options or {}),
        stage=stage,
        until=until,
        isolate=isolate,
        waivers=list(waivers),
        thresholds=thresholds,
        force=force,
    )
    started = time.perf_counter()
    captured = capture(options, reference_implementation(), candidate_implementation(candidate))
    judgement = judge(options, captured)
    if not judgement.checks:
        msg = (
            f"no check could be computed for stages {options.compared_stages()}: the candidate "
            f"provides {captured.candidate.records and sorted(captured.candidate.records)}"
        )
        raise InputError(msg)
    report = build_report(options, captured, judgement, command=command, calibration=calibration)
    written = write_reports(report, out_dir)
    logger.info("diff finished in %.1f s", time.perf_counter() - started)
    return DiffOutcome(report=report, capture=captured, judgement=judgement, written=written)


def load_thresholds(
    cache_dir: Path, data_dir: Path, preset: str, calibration: Path | None
) -> tuple[ThresholdBook, Path | None]:
    """Return the thresholds in effect and the calibration file they came from, if any.

    ``calibration`` is used when given, else the file ``harness calibrate``
    stored for this slice and preset, else only the documented defaults.
    """
    thresholds = ThresholdBook()
    calibration = calibration or _stored_calibration(cache_dir, data_dir, preset)
    if calibration is not None:
        load_calibration(calibration, thresholds)
        logger.info("thresholds of stochastic checks from calibration %s", calibration)
    return thresholds, calibration


def build_report(
    options: DiffOptions,
    captured: Capture,
    judgement: Judgement,
    *,
    command: Sequence[str],
    calibration: Path | None,
) -> DiffReport:
    """Assemble the report of a diff from its captured runs and checks."""
    reference_device = captured.reference.records.get("load")
    device = reference_device.manifest.get("device") if reference_device else None
    n_spots = None
    if "load" in captured.reference.records:
        shape = captured.reference.records["load"].artifacts["barcodes"].shape
        n_spots = int(shape[0]) if shape else None
    not_provided = [
        stage for stage in options.compared_stages() if stage in captured.candidate.not_provided
    ]
    return DiffReport(
        checks=_ordered(judgement.checks),
        sides={
            "reference": SideInfo.from_side_run(captured.reference, preset=options.config.preset, device=device),
            "candidate": SideInfo.from_side_run(captured.candidate, preset=options.config.preset, device=device),
        },
        data=DataInfo(path=str(options.data_dir), library_id=options.data_dir.name, n_spots=n_spots),
        stages_compared=options.compared_stages(),
        stages_not_provided=not_provided,
        command=list(command),
        figures_data={"reference": captured.reference_root, "candidate": captured.candidate_root},
        waivers=[waiver.to_json() for waiver in judgement.waivers],
        isolated_stages=list(judgement.isolated_stages),
        settings={
            "candidate": options.candidate,
            "preset": options.config.preset,
            "device": device,
            "candidate_options": dict(options.candidate_options),
            "calibration": str(calibration) if calibration else None,
        },
    )


def diff_from_args(args: argparse.Namespace, *, argv: Sequence[str]) -> int:
    """Run ``harness diff`` from parsed arguments; return the exit code."""
    from harness.cli import config_from_args, resolve_data

    threads = args.threads
    if threads is not None:
        if threads < 1:
            msg = f"--threads {threads}: expected 1 or more"
            raise InputError(msg)
        import torch

        torch.set_num_threads(threads)
        logger.info("torch uses %d CPU thread(s) in this process", threads)
    config = config_from_args(args)
    data_dir = resolve_data(args.data)
    out_dir = args.out or _default_out(args.candidate)
    outcome = run_diff(
        data_dir=data_dir,
        candidate=args.candidate,
        config=config,
        out_dir=out_dir,
        candidate_options=parse_candidate_options(args.candidate_option),
        stage=args.stage,
        until=args.until,
        isolate=args.isolate,
        cache_dir=args.cache_dir,
        waivers=[parse_waiver(item) for item in args.waive],
        tolerances=[parse_tolerance(item) for item in args.tolerance],
        calibration=args.calibration,
        force=args.force,
        command=list(argv),
    )
    render_terminal(outcome.report, make_console(), written=outcome.written)
    return exit_code(outcome.report.checks)


def report_from_args(args: argparse.Namespace) -> int:
    """Run ``harness report``: re-judge a saved diff against other tolerances."""
    report = DiffReport.load(args.report_dir)
    overrides = [parse_tolerance(item) for item in args.tolerance]
    if overrides:
        report = rejudge_report(report, overrides)
    out_dir = args.out or args.report_dir
    written = write_reports(report, out_dir)
    render_terminal(report, make_console(), written=written)
    return exit_code(report.checks)


def rejudge_report(report: DiffReport, overrides: Sequence[tuple[str, str, float]]) -> DiffReport:
    """Return ``report`` with the checks named in ``overrides`` judged again (no recomputation)."""
    import dataclasses

    from harness.compare.result import Threshold

    nested = [
        f"{check_id}:{metric}"
        for check_id, metric, _ in overrides
        for check in report.checks
        if check.check_id == check_id
        and isinstance(check.details.get(metric), Mapping)
        and "threshold" in check.details[metric]
    ]
    if nested:
        msg = (
            f"--tolerance {', '.join(nested)}: a bound applied inside its check, which "
            "`harness report` cannot judge again from the report alone; pass it to "
            "`harness diff --tolerance ...` instead (the cached runs are reused)"
        )
        raise InputError(msg)
    checks: list[CheckResult] = []
    matched: set[tuple[str, str]] = set()
    for check in report.checks:
        for check_id, metric, value in overrides:
            # A threshold is named by its DEFAULTS key; some checks store a more
            # specific metric name (linear_cka for cka), so the check id decides.
            if check.check_id == check_id and check.threshold is not None:
                threshold = Threshold(value, check.threshold.direction, unit=check.threshold.unit, source="user")
                check = check.rejudge(threshold)
                matched.add((check_id, metric))
        checks.append(check)
    unmatched = [f"{c}:{m}" for c, m, _ in overrides if (c, m) not in matched]
    if unmatched:
        present = sorted({c.check_id for c in report.checks if c.threshold is not None})
        msg = f"--tolerance names checks not in this report: {unmatched}; it has {present}"
        raise InputError(msg)
    return dataclasses.replace(report, checks=checks, tolerances={})


def _ordered(checks: Sequence[CheckResult]) -> list[CheckResult]:
    from harness.contract.stages import STAGE_NAMES

    order = {name: index for index, name in enumerate(STAGE_NAMES)}
    return sorted(checks, key=lambda check: order.get(check.stage, len(order)))


def _stored_calibration(cache_dir: Path, data_dir: Path, preset: str) -> Path | None:
    path = calibration_path(cache_dir, data_dir, preset)
    return path if path.is_file() else None


def _default_out(candidate: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in candidate)[:30]
    return Path("reports") / f"diff-{stamp}-{safe}"
