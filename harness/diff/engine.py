"""Run both sides stage by stage, compare every artifact, and judge each named check.

Capture and compare are separate steps. :func:`capture` runs (or loads from
the cache) both sides into run folders; :func:`judge` reads those folders and
applies the diagnosis catalogue, so a saved diff can be judged again with
other thresholds without running a pipeline.

Isolation: a candidate stage that is fed the reference's inputs shows its own
divergence, as opposed to one it inherited upstream. Isolated runs are made
for every compared stage with ``isolate=True``, and, without it, for the
stages downstream of a waived divergence, which are then judged on their
isolated outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.store import StageRecord
from harness.compare.result import CheckResult
from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES, downstream_of, get_stage, stages_until, upstream_closure
from harness.diff.context import DiffContext
from harness.diff.thresholds import ThresholdBook
from harness.diff.waivers import Waiver, find_waiver, waivers_from_records
from harness.implementation import Implementation
from harness.runner import SideRun, run_side

logger = logging.getLogger(__name__)

CONFIG_STAGE = "config"
"""Pseudo-stage of checks that span stages (``config.hyperparameters``)."""


@dataclass
class DiffOptions:
    """Settings of one diff: the data, the candidate, the stages and the thresholds.

    Attributes
    ----------
    data_dir
        The Space Ranger folder both sides read.
    candidate
        The ``--candidate`` value (``legacy``, ``strict``, ``module:object``, ``artifacts:DIR``).
    config
        The run configuration of the reference; the candidate's adds ``candidate_options``.
    candidate_options
        Side-specific options of the candidate (e.g. ``{"simulate_no_r": True}``).
    stage, until
        Compare one stage, or every stage up to one (default: all).
    isolate
        Also run each candidate stage on the reference's inputs.
    cache_dir
        Folder of the run folders reused between diffs.
    waivers
        Declared divergences from the command line or a pyproject table.
    thresholds
        Thresholds in effect (defaults, calibration, user).
    force
        Recompute every stage.
    verify_cache
        Re-hash every reused artifact against its manifest (default). A caller
        whose jobs have just verified or written the same run folders turns it
        off, so multi-gigabyte patch arrays are not hashed twice.
    """

    data_dir: Path
    candidate: str
    config: RunConfig
    cache_dir: Path
    candidate_options: Mapping[str, Any] = field(default_factory=dict)
    stage: str | None = None
    until: str | None = None
    isolate: bool = False
    waivers: Sequence[Waiver] = ()
    thresholds: ThresholdBook = field(default_factory=ThresholdBook)
    force: bool = False
    verify_cache: bool = True

    def compared_stages(self) -> list[str]:
        """Return the stages whose checks are computed, in pipeline order."""
        if self.stage is not None:
            return [get_stage(self.stage).name]
        return [spec.name for spec in stages_until(self.until)]

    def needed_stages(self) -> list[str]:
        """Return the stages that must run for the compared ones."""
        needed: set[str] = set()
        for stage in self.compared_stages():
            needed.update(spec.name for spec in upstream_closure(stage))
        return [name for name in STAGE_NAMES if name in needed]


@dataclass
class Capture:
    """The run folders of both sides, chained and isolated."""

    reference: SideRun
    candidate: SideRun
    candidate_implementation: Implementation
    isolated: dict[str, StageRecord] = field(default_factory=dict)
    reference_root: Path = Path()
    candidate_root: Path = Path()


@dataclass
class Judgement:
    """The checks of a diff and what they were judged on."""

    checks: list[CheckResult]
    waivers: list[Waiver]
    isolated_stages: list[str]


def run_roots(options: DiffOptions, candidate_config: RunConfig) -> tuple[Path, Path]:
    """Return the reference's and candidate's run folders in the cache."""
    data_key = f"{_slug(options.data_dir.name)}-{_short_digest(str(options.data_dir.resolve()))}"
    base = options.cache_dir / "runs" / data_key
    reference = base / f"reference-{options.config.preset}-{options.config.digest()[:10]}"
    candidate = base / f"candidate-{_slug(options.candidate)}-{candidate_config.digest()[:10]}"
    return reference, candidate


def capture(
    options: DiffOptions,
    reference: Implementation,
    candidate: Implementation,
) -> Capture:
    """Run (or load from the cache) both sides' stages needed by the comparison."""
    candidate_config = options.config.with_options(
        candidate=options.candidate, **dict(options.candidate_options)
    )
    reference_root, candidate_root = run_roots(options, candidate_config)
    needed = options.needed_stages()

    logger.info("reference: running %s", ", ".join(needed))
    reference_run = run_side(
        reference, side="reference", out_dir=reference_root, config=options.config,
        stages=needed, data_dir=options.data_dir, force=options.force,
        verify=options.verify_cache,
    )
    provided = set(candidate.provided_stages())
    fed = {
        stage: record for stage, record in reference_run.records.items() if stage not in provided
    }
    logger.info("candidate %s: running %s", options.candidate, ", ".join(s for s in needed if s in provided))
    candidate_run = run_side(
        candidate, side="candidate", out_dir=candidate_root, config=candidate_config,
        stages=needed, data_dir=options.data_dir, inputs_from=fed, force=options.force,
        verify=options.verify_cache,
    )
    return Capture(
        reference=reference_run,
        candidate=candidate_run,
        candidate_implementation=candidate,
        reference_root=reference_root,
        candidate_root=candidate_root,
    )


def run_isolated(
    options: DiffOptions,
    capture_: Capture,
    stages: Sequence[str],
) -> dict[str, StageRecord]:
    """Run each candidate stage in ``stages`` on the reference's inputs."""
    candidate_config = options.config.with_options(
        candidate=options.candidate, **dict(options.candidate_options)
    )
    implementation = capture_.candidate_implementation
    provided = set(implementation.provided_stages())
    isolated: dict[str, StageRecord] = {}
    for stage in stages:
        spec = get_stage(stage)
        if stage == "load" or stage not in provided or not spec.reads:
            continue
        upstream = {read.split("/", 1)[0] for read in spec.reads}
        fed = {name: capture_.reference.records[name] for name in upstream}
        result = run_side(
            implementation, side="candidate", out_dir=capture_.candidate_root / "isolated" / stage,
            config=candidate_config, stages=[stage], data_dir=options.data_dir,
            inputs_from=fed, force=options.force,
        )
        if stage in result.records:
            isolated[stage] = result.records[stage]
    return isolated


def judge(
    options: DiffOptions,
    capture_: Capture,
) -> Judgement:
    """Compute every named check of the compared stages and apply waivers and isolation."""
    from harness.diagnose import run_catalogue

    waivers = list(options.waivers)
    declared = getattr(capture_.candidate_implementation, "declared_waivers", None)
    if callable(declared):
        waivers.extend(waivers_from_records(declared(), source="candidate"))

    compared = options.compared_stages()
    context = DiffContext(
        reference=capture_.reference.records,
        candidate=capture_.candidate.records,
        isolated=capture_.isolated,
        thresholds=options.thresholds,
        data_dir=options.data_dir,
        candidate_options=dict(options.candidate_options),
    )
    chained = run_catalogue(context, compared, mode="chained")

    waived_stages = _waived_stages(chained, waivers)
    failing_stages = {check.stage for check in chained if check.status in ("fail", "error")}
    to_isolate: set[str] = set()
    for stage in waived_stages:
        to_isolate.update(spec.name for spec in downstream_of(stage))
    if options.isolate:
        to_isolate.update(failing_stages | set(compared))
    to_isolate &= set(compared)
    to_isolate -= waived_stages
    isolated_stages = [name for name in STAGE_NAMES if name in to_isolate]
    if isolated_stages:
        logger.info("running candidate stages on the reference's inputs: %s", ", ".join(isolated_stages))
        capture_.isolated.update(run_isolated(options, capture_, isolated_stages))
        context.isolated = capture_.isolated
    isolated_checks = run_catalogue(
        context, [s for s in isolated_stages if s in capture_.isolated], mode="isolated"
    )
    checks = _combine(chained, isolated_checks, waivers, waived_stages)
    return Judgement(checks=checks, waivers=waivers, isolated_stages=isolated_stages)


def _waived_stages(checks: Sequence[CheckResult], waivers: Sequence[Waiver]) -> set[str]:
    stages = set()
    for check in checks:
        if check.status in ("fail", "error") and find_waiver(waivers, check.check_id):
            stages.add(check.stage)
    return stages


def _combine(
    chained: Sequence[CheckResult],
    isolated: Sequence[CheckResult],
    waivers: Sequence[Waiver],
    waived_stages: set[str],
) -> list[CheckResult]:
    by_id = {check.check_id: check for check in isolated}
    own_failures = [
        check.stage for check in chained
        if check.status in ("fail", "error") and check.stage in STAGE_NAMES
    ]
    combined: list[CheckResult] = []
    for check in chained:
        waiver = find_waiver(waivers, check.check_id)
        alone = by_id.get(check.check_id)
        details = dict(check.details)
        if alone is not None:
            details["isolated"] = {
                "status": alone.status,
                "observed": alone.observed,
                "description": alone.description,
                "diagnosis": alone.diagnosis,
            }
        if check.status not in ("fail", "error"):
            combined.append(dataclasses.replace(check, details=details))
            continue
        if waiver is not None:
            details["waiver"] = waiver.to_json()
            combined.append(dataclasses.replace(
                check, status="waived", details=details,
                diagnosis=_join(check.diagnosis, f"waived ({waiver.source}): {waiver.reason}"),
            ))
            continue
        upstream = _upstream_cause(check.stage, own_failures, waived_stages)
        if alone is not None and alone.status == "pass" and upstream is not None:
            details["origin"] = "inherited"
            details["inherited_from"] = upstream
            if upstream in waived_stages:
                combined.append(dataclasses.replace(
                    check, status="waived", details=details,
                    diagnosis=_join(
                        check.diagnosis,
                        f"inherited from {upstream} (waived); fed the reference's inputs, "
                        "this stage agrees with the reference",
                    ),
                ))
            else:
                combined.append(dataclasses.replace(
                    check, details=details,
                    diagnosis=_join(
                        check.diagnosis,
                        f"inherited from {upstream}; fed the reference's inputs, this stage "
                        "agrees with the reference",
                    ),
                ))
            continue
        if alone is not None:
            details["origin"] = "own"
            combined.append(dataclasses.replace(
                check, details=details,
                diagnosis=_join(
                    check.diagnosis,
                    "this stage's own divergence: it still differs when fed the reference's inputs",
                ),
            ))
            continue
        combined.append(dataclasses.replace(check, details=details))
    return combined


def _upstream_cause(stage: str, failing: Sequence[str], waived: set[str]) -> str | None:
    if stage not in STAGE_NAMES:
        return None
    upstream = {spec.name for spec in upstream_closure(stage)} - {stage}
    candidates = [name for name in STAGE_NAMES if name in upstream and (name in failing or name in waived)]
    return candidates[0] if candidates else None


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "x"


def _short_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
