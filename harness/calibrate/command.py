"""``harness calibrate``: thresholds of the stochastic checks from the reference's own spread.

For each slice the reference runs once at its base seed (all stages, the
same run folder ``harness diff`` uses) and then at every calibration seed,
where only the seeded stages are recomputed (see
:mod:`harness.matrix.plans`). Every pair of seeds is compared with the diff's
own diagnoses (:mod:`harness.calibrate.spread`), and the derived thresholds
are written where ``harness diff`` finds them for that slice and preset.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.io import dumps_json
from harness.artifacts.store import RunStore, StageRecord, atomic_write_text
from harness.calibrate.spread import (
    DEFAULT_MARGIN,
    default_thresholds,
    derive_thresholds,
    measure_spread,
)
from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES
from harness.errors import InputError
from harness.matrix.executor import (
    ExecutorSettings,
    JobFailure,
    MatrixOutcome,
    run_matrix,
    seed_groups,
)
from harness.matrix.jobs import JobSpec
from harness.matrix.plans import SidePlan

logger = logging.getLogger(__name__)

CALIBRATION_FORMAT = "staig-harness-calibration"
CALIBRATION_VERSION = 1
MIN_SEEDS = 2


@dataclass
class SliceCalibration:
    """The calibration of one slice: where it was written and what it holds."""

    data_dir: Path
    path: Path | None
    document: dict[str, Any] | None
    failures: list[dict[str, Any]] = field(default_factory=list)


def reference_plan(data_dir: Path, config: RunConfig, cache_dir: Path) -> SidePlan:
    """Return the plan of the reference's runs of ``data_dir`` in the diff cache."""
    from harness.diff.engine import DiffOptions, run_roots
    from harness.sides import reference_implementation

    implementation = reference_implementation()
    options = DiffOptions(
        data_dir=data_dir, candidate="reference", config=config, cache_dir=cache_dir
    )
    root, _ = run_roots(options, config)
    return SidePlan.of(
        implementation, spec="reference", side="reference", config=config, data_dir=data_dir,
        root=root,
    )


def seed_records(plan: SidePlan, seed: int) -> dict[str, StageRecord]:
    """Return the stored records of the run at ``seed``, stage by stage, without re-hashing."""
    records: dict[str, StageRecord] = {}
    for stage in STAGE_NAMES:
        if stage not in plan.provided and plan.fallback is None:
            continue
        record = RunStore(plan.folder_of(stage, seed)).read_stage(stage, verify=False)
        if record is not None:
            records[stage] = record
    return records


def check_request(*, seeds: Sequence[int], margin: float, out: Path | None, n_slices: int) -> None:
    """Raise :class:`InputError` for too few or repeated seeds, a negative margin, or ``out``
    with several slices, before any slice is read."""
    if len(set(seeds)) != len(seeds) or len(seeds) < MIN_SEEDS:
        msg = (
            f"seeds {list(seeds)}: calibration needs at least {MIN_SEEDS} different seeds; "
            "pass --seeds 2 or more, or --seed-list with distinct values"
        )
        raise InputError(msg)
    if margin < 0:
        msg = f"--margin {margin}: expected 0 or more"
        raise InputError(msg)
    if out is not None and n_slices > 1:
        msg = "--out names one file, but several --data slices were given; leave --out out"
        raise InputError(msg)


def calibrate(
    *,
    data_dirs: Sequence[Path],
    config: RunConfig,
    seeds: Sequence[int],
    cache_dir: Path,
    executor: ExecutorSettings,
    margin: float = DEFAULT_MARGIN,
    out: Path | None = None,
    command: Sequence[str] = (),
) -> list[SliceCalibration]:
    """Calibrate the stochastic thresholds of each slice in ``data_dirs``.

    Parameters
    ----------
    data_dirs
        Space Ranger folders; each gets its own calibration file.
    config
        The reference's run configuration (preset, device, weights).
    seeds
        Training seeds; at least two, all different.
    cache_dir
        The diff cache (run folders are shared with ``harness diff``).
    executor
        Where the matrix jobs run.
    margin
        Added to the measured spread (see :mod:`harness.calibrate.spread`).
    out
        File to write (only with one slice); default: where ``harness diff``
        looks, ``<cache>/calibration/<slice>-<preset>.json``.

    Raises
    ------
    InputError
        For fewer than two seeds, repeated seeds, a negative margin, or ``out``
        with several slices.
    """
    from harness.diff.command import calibration_path

    check_request(seeds=seeds, margin=margin, out=out, n_slices=len(data_dirs))
    plans = {Path(data): reference_plan(Path(data), config, cache_dir) for data in data_dirs}
    base_jobs = [
        JobSpec(
            name=f"{data.name} reference base",
            steps=(plan.base_step(),),
            tags={"slice": data.name, "role": "base"},
        )
        for data, plan in plans.items()
    ]
    outcome = run_matrix(base_jobs, executor)
    groups = seed_groups(seeds, executor)
    seed_jobs = [
        JobSpec(
            name=_seed_job(data, group),
            steps=tuple(plan.seed_step(seed) for seed in group),
            tags={"slice": data.name, "seeds": group},
        )
        for data, plan in plans.items()
        if f"{data.name} reference base" in outcome.results
        for group in groups
    ]
    outcome.merge(run_matrix(seed_jobs, executor))

    calibrations: list[SliceCalibration] = []
    for data, plan in plans.items():
        failures = [
            f.to_json() for f in outcome.failures.values() if f.name.startswith(f"{data.name} ")
        ]
        done = [seed for seed in seeds if _finished(outcome, data, seed, groups)]
        if len(done) < MIN_SEEDS:
            logger.error(
                "%s: only %d seed run(s) finished; no calibration written", data.name, len(done)
            )
            calibrations.append(
                SliceCalibration(data_dir=data, path=None, document=None, failures=failures)
            )
            continue
        document = _document(plan, done, outcome, margin=margin, failures=failures, command=command)
        path = out or calibration_path(cache_dir, data, config.preset)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, dumps_json(document))
        logger.info("%s: calibration written to %s", data.name, path)
        calibrations.append(
            SliceCalibration(data_dir=data, path=path, document=document, failures=failures)
        )
    return calibrations


def _document(
    plan: SidePlan,
    seeds: Sequence[int],
    outcome: MatrixOutcome,
    *,
    margin: float,
    failures: list[dict[str, Any]],
    command: Sequence[str],
) -> dict[str, Any]:
    spreads = measure_spread({seed: seed_records(plan, seed) for seed in seeds})
    thresholds = derive_thresholds(spreads, margin=margin)
    scores = {str(seed): _scores(_seed_scores(outcome, plan, seed)) for seed in seeds}
    return {
        "format": CALIBRATION_FORMAT,
        "format_version": CALIBRATION_VERSION,
        "slice": plan.data_dir.name,
        "data_dir": str(plan.data_dir),
        "preset": plan.config.preset,
        "run_config": plan.config.to_dict(),
        "reference_run": str(plan.root),
        "seeds": list(seeds),
        "margin": margin,
        "rule": (
            "similarity (cka, knn_overlap, ari): minimum over seed pairs minus the margin, "
            "floored at 0; ari_gap: maximum over seed pairs of |ARI difference| plus the margin"
        ),
        "spread": {key: spread.summary() for key, spread in sorted(spreads.items())},
        "scores": scores,
        "thresholds": thresholds,
        "defaults": default_thresholds(sorted(thresholds)),
        "failed_jobs": failures,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": list(command),
    }


def _seed_job(data: Path, group: Sequence[int]) -> str:
    seeds = ",".join(map(str, group))
    return f"{data.name} reference seed{'s' if len(group) > 1 else ''} {seeds}"


def _finished(
    outcome: MatrixOutcome, data: Path, seed: int, groups: Sequence[Sequence[int]]
) -> bool:
    group = next(group for group in groups if seed in group)
    return _seed_job(data, group) in outcome.results


def _seed_scores(outcome: MatrixOutcome, plan: SidePlan, seed: int) -> Mapping[str, Any] | None:
    folder = str(plan.seed_root(seed))
    return next(
        (result.scores[folder] for result in outcome.results.values() if folder in result.scores),
        None,
    )


def _scores(scores: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if scores is None:
        return None
    return {
        key: scores[key]
        for key in ("ari", "nmi", "ari_unrefined", "nmi_unrefined")
        if key in scores
    }


def calibrate_from_args(args: argparse.Namespace, *, argv: Sequence[str]) -> int:
    """Run ``harness calibrate``; return 0 when every slice was calibrated from all seeds."""
    from harness.cli import resolve_data
    from harness.console import make_console
    from harness.diff.command import cache_root
    from harness.matrix.options import executor_from_args, matrix_config, seeds_from_args

    seeds = seeds_from_args(args)
    slices = args.data or [None]
    check_request(seeds=seeds, margin=args.margin, out=args.out, n_slices=len(slices))
    if len(seeds) == MIN_SEEDS:
        logger.warning(
            "%d seeds make one seed pair, so each threshold is that pair's similarity or gap "
            "with the margin, not the extreme of several pairs; --seeds 5 compares 10 pairs",
            len(seeds),
        )
    config = matrix_config(args, command="calibrate")
    cache_dir = args.cache_dir or cache_root()
    executor = executor_from_args(args, cache_dir=cache_dir, what="calibrate")
    results = calibrate(
        data_dirs=[resolve_data(path) for path in slices],
        config=config,
        seeds=seeds,
        cache_dir=cache_dir,
        executor=executor,
        margin=args.margin,
        out=args.out,
        command=list(argv),
    )
    console = make_console()
    for result in results:
        render_calibration(result, console)
    return 0 if all(r.document is not None and not r.failures for r in results) else 1


def render_calibration(result: SliceCalibration, console: Any) -> None:
    """Print one slice's calibrated thresholds next to the defaults, and any failed jobs."""
    from rich import box
    from rich.table import Table

    if result.document is None:
        console.print(
            f"{result.data_dir.name}: no calibration (too few seed runs finished)", markup=False
        )
    else:
        document = result.document
        table = Table(
            title=f"Calibration of {document['slice']} ({document['preset']}, seeds {document['seeds']})",
            box=box.SIMPLE_HEAD,
        )
        for column in ("threshold", "min", "mean", "max", "calibrated", "default"):
            table.add_column(column, justify="left" if column == "threshold" else "right")
        for key, value in document["thresholds"].items():
            spread = document["spread"][key]
            table.add_row(
                key,
                f"{spread['min']:.4f}",
                f"{spread['mean']:.4f}",
                f"{spread['max']:.4f}",
                f"{value:.4f}",
                f"{document['defaults'][key]:.4g}",
            )
        console.print(table)
        aris = ", ".join(
            f"seed {seed}: {score['ari']:.3f}"
            for seed, score in document["scores"].items()
            if score and "ari" in score
        )
        if aris:
            console.print(f"final ARI per seed: {aris}", markup=False)
        console.print(f"written to {result.path}", markup=False)
    for failure in result.failures:
        console.print(JobFailure(**failure).summary(), markup=False)
