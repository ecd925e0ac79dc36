"""``harness attribute``: rank the divergent stages by what they cost in final ARI.

1. Both sides run at their base seed (matrix jobs, the diff cache), and the
   diff judges every check with isolation, so each failing stage is known to
   diverge on its own rather than by inheritance.
2. Both sides run at every seed; only their seeded stages are recomputed.
3. For each divergent stage X, two hybrids run at every seed (see
   :mod:`harness.matrix.plans`):

   * ``fix``: the candidate with the reference's implementation of X;
     ΔARI = ARI(hybrid) − ARI(candidate), what repairing X recovers;
   * ``break``: the reference with the candidate's implementation of X;
     ΔARI = ARI(hybrid) − ARI(reference), what X costs inside the reference.

4. Each stage and direction gets the mean ΔARI over seeds with a Student-t
   interval, ranked by magnitude, in the report (terminal, Markdown, HTML bar
   chart, report.json) and in ``attribution.json`` with the per-seed values.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.io import dumps_json
from harness.artifacts.store import atomic_write_text
from harness.attribute.stats import DEFAULT_CONFIDENCE, mean_interval
from harness.compare.result import CheckResult
from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES
from harness.errors import InputError
from harness.matrix.adapters import size_mismatches
from harness.matrix.executor import (
    ExecutorSettings,
    JobFailure,
    MatrixOutcome,
    last_line,
    run_matrix,
    seed_groups,
)
from harness.matrix.jobs import JobSpec
from harness.matrix.plans import Hybrid, SidePlan
from harness.matrix.preflight import check_enough_spots
from harness.report import AttributionRow, DiffReport, write_reports
from harness.report.model import rank_attribution

logger = logging.getLogger(__name__)

DIRECTIONS: dict[str, str] = {
    "fix": "the candidate with the reference's stage",
    "break": "the reference with the candidate's stage",
}
NOT_SWAPPABLE = frozenset({"load", "metrics"})
"""``load`` defines the spots both sides share; ``metrics`` only scores, it changes no domain."""

FAILING = ("fail", "error", "waived")
HYPERPARAMETERS = "config.hyperparameters"


@dataclass
class AttributionOutcome:
    """Output of ``harness attribute``: report, ranked rows, attribution.json and failures."""

    report: DiffReport
    rows: list[AttributionRow]
    document: dict[str, Any]
    written: dict[str, Path]
    failures: list[JobFailure] = field(default_factory=list)


def divergent_stages(checks: Sequence[CheckResult], swappable: set[str]) -> list[str]:
    """Return the stages that diverge on their own.

    A stage diverges on its own when it has a failing, errored or waived
    check that is not only inherited. It also does when a setting recorded
    in its config differs between the sides (``config.hyperparameters``
    names the stages of each differing key). Training with another
    temperature or epoch count may pass the embedding checks against a wide
    noise floor, yet its cost in ARI is what the attribution measures.
    """
    chosen = {
        check.stage
        for check in checks
        if check.stage in swappable
        and check.status in FAILING
        and check.details.get("origin") != "inherited"
    }
    for check in checks:
        if check.check_id == HYPERPARAMETERS and check.status in FAILING:
            for item in check.evidence or ():
                chosen.update(
                    name for name in str(item.get("stages", "")).split(", ") if name in swappable
                )
    return [name for name in STAGE_NAMES if name in chosen]


def check_confidence(confidence: float) -> None:
    """Raise :class:`InputError` unless ``confidence`` lies strictly between 0 and 1."""
    if not 0.0 < confidence < 1.0:
        msg = f"--confidence {confidence}: expected a level strictly between 0 and 1, e.g. 0.95"
        raise InputError(msg)


def attribute(
    *,
    data_dir: Path,
    candidate: str,
    config: RunConfig,
    seeds: Sequence[int],
    cache_dir: Path,
    executor: ExecutorSettings,
    out_dir: Path,
    candidate_options: Mapping[str, Any] | None = None,
    stages: Sequence[str] | None = None,
    calibration: Path | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    command: Sequence[str] = (),
) -> AttributionOutcome:
    """Attribute the candidate's ARI gap to its divergent stages; write the reports.

    Parameters
    ----------
    data_dir, candidate, config, candidate_options, cache_dir, calibration
        As for ``harness diff``.
    seeds
        Training seeds of the runs averaged (at least one; two or more give intervals).
    executor
        Where the matrix jobs run.
    out_dir
        Report folder: report.json, report.md, report.html, junit.xml and attribution.json.
    stages
        Stages to swap (default: every stage the diff finds divergent on its own,
        which needs the diff's isolated runs; given stages skip them).
    confidence
        Level of the intervals.

    Raises
    ------
    InputError
        For no or repeated seeds, a confidence level outside (0, 1), an
        unknown or unswappable stage, or when the base runs fail (their job
        errors are in the message).
    """
    from harness.diff.command import build_report, load_thresholds
    from harness.diff.engine import DiffOptions, capture, judge, run_roots
    from harness.sides import candidate_implementation, reference_implementation

    if not seeds or len(set(seeds)) != len(seeds):
        msg = f"seeds {list(seeds)}: expected one or more different seeds"
        raise InputError(msg)
    check_confidence(confidence)
    reference_impl = reference_implementation()
    candidate_impl = candidate_implementation(candidate)
    swappable = (
        set(reference_impl.provided_stages()) & set(candidate_impl.provided_stages())
    ) - NOT_SWAPPABLE
    check_stage_names(stages)
    for stage in stages or ():
        if stage not in swappable:
            msg = (
                f"--stages {stage!r}: a swapped stage must exist on both sides, and this one "
                f"does not; swappable: {', '.join(name for name in STAGE_NAMES if name in swappable)}"
            )
            raise InputError(msg)

    thresholds, calibration = load_thresholds(cache_dir, data_dir, config.preset, calibration)
    options = DiffOptions(
        data_dir=data_dir,
        candidate=candidate,
        config=config,
        cache_dir=cache_dir,
        candidate_options=dict(candidate_options or {}),
        isolate=not stages,
        thresholds=thresholds,
        verify_cache=False,
    )
    candidate_config = config.with_options(candidate=candidate, **dict(candidate_options or {}))
    reference_root, candidate_root = run_roots(options, candidate_config)
    reference_plan = SidePlan.of(
        reference_impl, spec="reference", side="reference", config=config,
        data_dir=data_dir, root=reference_root,
    )
    candidate_plan = SidePlan.of(
        candidate_impl, spec=candidate, side="candidate", config=candidate_config,
        data_dir=data_dir, root=candidate_root, fallback=reference_plan,
    )
    plans = {"reference": reference_plan, "candidate": candidate_plan}

    check_enough_spots(candidate_impl, candidate_plan)
    outcome = run_matrix([JobSpec("reference base", (reference_plan.base_step(),))], executor)
    if outcome.ok:
        outcome.merge(
            run_matrix([JobSpec("candidate base", (candidate_plan.base_step(),))], executor)
        )
    if not outcome.ok:
        errors = "; ".join(
            f"{f.name}: {last_line(f.error)} (log: {f.stderr})"
            for f in outcome.failures.values()
        )
        msg = f"the base runs failed, nothing to attribute: {errors}"
        raise InputError(msg)

    captured = capture(options, reference_impl, candidate_impl)
    judgement = judge(options, captured)
    chosen = list(stages) if stages else divergent_stages(judgement.checks, swappable)
    logger.info("stages to attribute: %s", ", ".join(chosen) or "none")
    resized = size_mismatches(
        {side: {name: plan.folder_of(name, None) for name in STAGE_NAMES} for side, plan in plans.items()},
        STAGE_NAMES,
    )
    for stage, artifacts in resized.items():
        for name, sizes in artifacts.items():
            logger.info(
                "%s/%s: %s; hybrids resize it to the consuming side's size",
                stage, name, ", ".join(f"{side} {size} px" for side, size in sizes.items()),
            )
    hybrids = {
        (stage, direction): Hybrid(
            stage=stage,
            receiver=candidate_plan if direction == "fix" else reference_plan,
            donor=reference_plan if direction == "fix" else candidate_plan,
            adapt=frozenset(resized),
        )
        for stage in chosen
        for direction in DIRECTIONS
    }

    groups = seed_groups(seeds, executor)
    split = len(groups) > 1
    first_wave = [
        JobSpec(
            _job_name(side, group),
            tuple(plan.seed_step(seed) for seed in group),
            tags={"side": side, "seeds": group},
        )
        for group in groups
        for side, plan in plans.items()
    ]
    if split:
        first_wave += [
            JobSpec(f"{direction} {stage} shared", tuple(hybrid.shared_steps()))
            for (stage, direction), hybrid in hybrids.items()
            if hybrid.shared_steps()
        ]
    outcome.merge(run_matrix(first_wave, executor))
    second_wave = [
        JobSpec(
            _job_name(f"{direction} {stage}", group),
            tuple(
                ([] if split else hybrid.shared_steps())
                + [step for seed in group for step in hybrid.seed_steps(seed)]
            ),
            tags={"stage": stage, "direction": direction, "seeds": group},
        )
        for (stage, direction), hybrid in hybrids.items()
        for group in groups
    ]
    outcome.merge(run_matrix(second_wave, executor))

    rows, per_seed = _rows(
        hybrids, seeds, outcome, judgement.checks, resized=resized, confidence=confidence
    )
    rows = rank_attribution(rows)
    report = build_report(options, captured, judgement, command=command, calibration=calibration)
    report = dataclasses.replace(
        report,
        attribution=rows,
        settings={
            **report.settings,
            "attribution": {
                "seeds": list(seeds),
                "confidence": confidence,
                "stages": chosen,
                "directions": DIRECTIONS,
                "resized": resized,
                "failed_jobs": sorted(outcome.failures),
                "jobs_dir": str(executor.jobs_dir),
            },
        },
    )
    document = {
        "data_dir": str(data_dir),
        "candidate": candidate,
        "preset": config.preset,
        "seeds": list(seeds),
        "confidence": confidence,
        "stages": chosen,
        "directions": DIRECTIONS,
        "resized": resized,
        "rows": [row.to_json() for row in rows],
        "per_seed": per_seed,
        "baseline": {
            side: {str(seed): _ari(outcome, plan.seed_root(seed)) for seed in seeds}
            for side, plan in plans.items()
        },
        "failed_jobs": [failure.to_json() for failure in outcome.failures.values()],
        "jobs_dir": str(executor.jobs_dir),
        "command": list(command),
    }
    written = write_reports(report, out_dir)
    atomic_write_text(Path(out_dir) / "attribution.json", dumps_json(document))
    written["attribution"] = Path(out_dir) / "attribution.json"
    return AttributionOutcome(
        report=report,
        rows=rows,
        document=document,
        written=written,
        failures=list(outcome.failures.values()),
    )


def _job_name(what: str, seeds: Sequence[int]) -> str:
    return (
        f"{what} seed {seeds[0]}"
        if len(seeds) == 1
        else f"{what} seeds {','.join(map(str, seeds))}"
    )


def _ari(outcome: MatrixOutcome, folder: Path) -> float | None:
    """Return the final ARI stored in ``folder`` by whichever finished job computed it."""
    for result in outcome.results.values():
        value = result.ari(folder)
        if value is not None:
            return value
    return None


def _rows(
    hybrids: Mapping[tuple[str, str], Hybrid],
    seeds: Sequence[int],
    outcome: MatrixOutcome,
    checks: Sequence[CheckResult],
    *,
    resized: Mapping[str, Mapping[str, Mapping[str, int]]],
    confidence: float,
) -> tuple[list[AttributionRow], dict[str, Any]]:
    rows: list[AttributionRow] = []
    per_seed: dict[str, Any] = {}
    for (stage, direction), hybrid in hybrids.items():
        entries = []
        for seed in seeds:
            base = _ari(outcome, hybrid.receiver.seed_root(seed))
            swapped = _ari(outcome, hybrid.seed_root(seed))
            if base is None or swapped is None:
                continue
            entries.append(
                {"seed": seed, "ari_base": base, "ari_hybrid": swapped, "delta_ari": swapped - base}
            )
        per_seed[f"{direction}:{stage}"] = entries
        if not entries:
            rows.append(_unmeasured(stage, direction, outcome))
            continue
        mean, low, high = mean_interval([e["delta_ari"] for e in entries], confidence=confidence)
        base_mean = sum(e["ari_base"] for e in entries) / len(entries)
        hybrid_mean = sum(e["ari_hybrid"] for e in entries) / len(entries)
        rows.append(
            AttributionRow(
                factor=stage,
                mean_delta_ari=mean,
                ci_low=low,
                ci_high=high,
                n_runs=len(entries),
                direction=direction,
                description=_describe(stage, direction, base_mean, hybrid_mean, checks)
                + _resize_note(hybrid, resized),
            )
        )
    return rows, per_seed


def _unmeasured(stage: str, direction: str, outcome: MatrixOutcome) -> AttributionRow:
    """Return a row without numbers whose description gives the reason the swap was not measured."""
    prefix = f"{direction} {stage} "
    failures = [f for name, f in outcome.failures.items() if name.startswith(prefix)]
    if failures:
        reason = f"job {failures[0].name} failed: {last_line(failures[0].error)}"
    else:
        reason = "a job it depends on failed"
    return AttributionRow(
        factor=stage, mean_delta_ari=math.nan, ci_low=math.nan, ci_high=math.nan, n_runs=0,
        direction=direction, description=f"{DIRECTIONS[direction]}: not measured, {reason}",
    )


def _describe(
    stage: str, direction: str, base: float, hybrid: float, checks: Sequence[CheckResult]
) -> str:
    receiver = "candidate" if direction == "fix" else "reference"
    text = f"{DIRECTIONS[direction]}: ARI {hybrid:.3f} vs {base:.3f} for the {receiver} alone"
    failing = [check for check in checks if check.stage == stage and check.status in FAILING]
    if failing:
        first = failing[0]
        summary = (first.diagnosis or first.description).split("; ")[0]
        text += f"; {first.check_id}: {summary}"
    return text


def _resize_note(hybrid: Hybrid, resized: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """Return "; <stage>/<artifact> resized A → B px ..." for each resize the hybrid made."""
    notes = []
    for stage in hybrid.resized_stages():
        into_donor = stage != hybrid.stage
        source, target = (
            (hybrid.receiver.side, hybrid.donor.side)
            if into_donor
            else (hybrid.donor.side, hybrid.receiver.side)
        )
        for name, sizes in resized[stage].items():
            notes.append(
                f"{stage}/{name} resized {sizes[source]} → {sizes[target]} px for the {target}"
            )
    return "".join(f"; {note}" for note in notes)


def check_stage_names(stages: Sequence[str] | None) -> None:
    """Raise :class:`InputError` for a stage name that is unknown or never swapped.

    The check needs no implementation, so the command line runs it on
    ``--stages`` before torch is imported.
    """
    unknown = [stage for stage in stages or () if stage not in STAGE_NAMES]
    fixed = [stage for stage in stages or () if stage in NOT_SWAPPABLE]
    if not unknown and not fixed:
        return
    candidates = ", ".join(name for name in STAGE_NAMES if name not in NOT_SWAPPABLE)
    if unknown:
        problem = f"unknown stage(s) {unknown}"
    else:
        problem = (
            f"{', '.join(fixed)} cannot be swapped (load defines the spots both sides share, "
            "metrics changes no domain)"
        )
    msg = f"--stages {','.join(stages or ())!r}: {problem}; stages that can be swapped: {candidates}"
    raise InputError(msg)


def attribute_from_args(args: argparse.Namespace, *, argv: Sequence[str]) -> int:
    """Run ``harness attribute``; return 0 when every job finished, 1 when some failed."""
    from harness.cli import resolve_data
    from harness.console import make_console
    from harness.diff.command import cache_root, parse_candidate_options
    from harness.matrix.options import executor_from_args, matrix_config, seeds_from_args
    from harness.report import render_terminal

    seeds = seeds_from_args(args)
    check_confidence(args.confidence)
    stages = args.stages.split(",") if args.stages else None
    check_stage_names(stages)
    config = matrix_config(args, command="attribute")
    cache_dir = args.cache_dir or cache_root()
    executor = executor_from_args(args, cache_dir=cache_dir, what="attribute")
    if executor.cpus_per_job:
        import torch

        # The isolated runs of the diff train in this process, beside the jobs.
        torch.set_num_threads(executor.cpus_per_job)
    out_dir = args.out or Path("reports") / f"attribute-{_stamp()}"
    outcome = attribute(
        data_dir=resolve_data(args.data),
        candidate=args.candidate,
        config=config,
        seeds=seeds,
        cache_dir=cache_dir,
        executor=executor,
        out_dir=out_dir,
        candidate_options=parse_candidate_options(args.candidate_option),
        stages=stages,
        calibration=args.calibration,
        confidence=args.confidence,
        command=list(argv),
    )
    code = 0 if not outcome.failures else 1
    console = make_console()
    render_terminal(outcome.report, console, written=outcome.written, exit_code=code)
    for failure in outcome.failures:
        console.print(failure.summary(), markup=False)
    return code


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")
