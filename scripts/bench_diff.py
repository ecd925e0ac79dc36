"""Measure what ``harness diff`` costs on top of the two pipelines it runs.

Every measurement calls ``harness.diff.command.run_diff`` (preset ``quick``,
device ``cpu``, encoders with random initialisation because no weights file is
needed) on a synthetic slice, in its own new process. The processes are
forked from one server process (multiprocessing, forkserver) that imported the
harness, both sides' pipelines, torch, scanpy and matplotlib once. So no diff
pays for those imports, and each starts with empty in-process caches
(data-folder digests, decoded images, comparison results), as a new
``harness diff`` does. Modules that a stage imports when it runs (rpy2 and the
embedded R of the cluster stage) still load during the diff.

What is reported for each diff:

* wall time of ``run_diff``, split into capture (running or loading both
  sides), judge (the comparisons, plus candidate stages rerun on the
  reference's inputs) and reports (building the report and writing its files);
* pipeline time: the sum of ``resources.wall_s`` in the stage manifests of the
  stages the diff computed, on both sides and in the isolated runs. That is the
  time spent inside the stages' own ``run`` calls;
* overhead = diff - pipelines, the ratio diff / pipelines, and the ratio to
  the chained pipelines alone (each side run once, without isolated runs);
* peak resident memory (RSS) of the process, sampled by a background thread
  and raised to the kernel's high-water mark (``ru_maxrss``) when that rose
  during the diff.

Sizes: the full pipeline runs on slices of ``--full-sizes`` spots with all
three image levels. Larger slices (``--stage-sizes``) only run the diffs
``--stage genes`` and ``--stage graph``, which need only load and that stage
on each side. The image stages do not fit there: the patches of a
50,000-spot slice alone would take about 40 GB (512 x 512 x 3 bytes per
spot). A cached rerun of one stage (``--stage patches``, ``--stage graph``,
``--stage genes``) on a warm cache is timed against the cold run of the same
restricted diff.

``--dlpfc-report DIR --dlpfc-wall SECONDS`` computes the overhead of a diff
that already finished (for example on DLPFC 151673) from its report.json and
the stage manifests in its run folders, without rerunning it.

Usage::

    python scripts/bench_diff.py --json bench_diff.json
    python scripts/bench_diff.py --full-sizes --stage-sizes \\
        --dlpfc-report reports/diff-151673 --dlpfc-wall 1520
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

SCRIPTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(SCRIPTS_DIR))

from bench_reference import (  # noqa: E402
    MIB,
    SYNTHETIC_GENES,
    PeakRss,
    machine_description,
    synthetic_slice,
)
from harness.errors import InputError, MissingFileError  # noqa: E402
from harness.synth import (  # noqa: E402
    GENERATOR_VERSION,
    read_synthetic_spec,
    write_synthetic_slice,
)

logger = logging.getLogger("bench_diff")

DEFAULT_FULL_SIZES = (400, 2000)
DEFAULT_STAGE_SIZES = (5000, 20000, 50000)
DEFAULT_CANDIDATES = ("strict", "legacy")
# Largest full-pipeline slice on which candidates after the first also run.
# A full cold diff of 2000 spots took 12 minutes (710 s) on the 2-core machine
# of docs/benchmarks.md, so a second candidate there would add about as much.
DEFAULT_OTHER_CANDIDATES_MAX_SPOTS = 400
PRESET = "quick"
DEVICE = "cpu"
# Stages of the cached-rerun measurement on the full-pipeline slices and on the larger ones.
CACHED_STAGES_FULL = ("patches", "graph")
CACHED_STAGES_LARGE = ("genes", "graph")
# RSS sampling period of the background thread. The diffs run for seconds to
# minutes, so 50 ms costs little CPU. Shorter peaks are caught by ru_maxrss.
RSS_INTERVAL_S = 0.05
# Slack around a finished diff's time window when deciding whether an
# isolated stage manifest was written by that diff (file times are not exact).
MANIFEST_TIME_SLACK_S = 5.0
# Modules the fork server imports once, before it forks the measuring processes.
PRE_IMPORTS = (
    "harness.diff.command",
    "harness.sides",
    "harness.diagnose",
    "harness.report",
    "reference.pipeline",
    "candidate.pipeline",
    "torch",
    "scanpy",
    "matplotlib.pyplot",
)
# run_diff's phases, by the names it calls them in harness.diff.command.
PHASES = ("capture", "judge", "build_report", "write_reports")

CacheState = Literal["cold", "warm"]


@dataclass(frozen=True)
class DiffPlan:
    """One ``run_diff`` call to measure.

    Attributes
    ----------
    label
        Folder name of the run under ``<work-dir>/runs``; also names the cache
        that a warm run shares with its cold run.
    data_dir
        The synthetic slice.
    n_spots
        In-tissue spots the slice was written with.
    candidate
        ``strict`` or ``legacy``.
    stage
        The only stage compared, or ``None`` for every stage.
    cache
        ``cold`` empties the cache first, ``warm`` reuses the cold run's cache.
    """

    label: str
    data_dir: Path
    n_spots: int
    candidate: str
    stage: str | None
    cache: CacheState

    def cache_dir(self, work_dir: Path) -> Path:
        """Return the diff's cache folder, which a warm run shares with its cold run."""
        return work_dir / "runs" / f"{self.label.removesuffix('-cold').removesuffix('-warm')}-cache"


@dataclass
class DiffMeasurement:
    """Wall time, pipeline time and memory of one diff. Times in s, memory in MiB."""

    label: str
    slice: str
    n_spots: int
    n_spots_kept: int | None
    candidate: str
    stages: str
    cache: str
    diff_s: float
    capture_s: float | None
    judge_s: float | None
    report_s: float | None
    pipeline_reference_s: float
    pipeline_candidate_s: float
    pipeline_isolated_s: float
    pipeline_s: float
    overhead_s: float
    ratio: float | None
    ratio_chained: float | None
    store_overhead_s: float | None
    compare_s: float | None
    rss_start_mib: float | None
    rss_peak_mib: float | None
    import_s: float | None
    load_average_before: tuple[float, float, float] | None
    load_average_after: tuple[float, float, float] | None
    stage_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    stages_reused: dict[str, list[str]] = field(default_factory=dict)
    n_checks: int | None = None


# Slices ---------------------------------------------------------------------


def image_slice(work_dir: Path, n_spots: int) -> Path:
    """Return a synthetic slice of ``n_spots`` with all image levels, writing it when missing.

    Seed 0 and 5000 genes, like the slices of ``bench_reference.py``, but with
    the full-resolution TIFF, so the patches stage cuts 512 px windows from it
    as it does on a Visium slice.
    """
    folder = work_dir / f"synthetic_{n_spots}_images"
    if (folder / "synthetic.json").is_file():
        spec = read_synthetic_spec(folder)
        expected = (GENERATOR_VERSION, n_spots, SYNTHETIC_GENES, 0, ("fullres", "hires", "lowres"))
        found = (
            spec.generator_version,
            spec.n_spots,
            spec.n_genes,
            spec.seed,
            tuple(spec.image_levels),
        )
        if found == expected:
            return folder
        logger.info("%s was written by another generator version or settings; rewriting", folder)
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    write_synthetic_slice(folder, n_spots=n_spots, seed=0, n_genes=SYNTHETIC_GENES)
    logger.info("wrote %s in %.1f s", folder, time.perf_counter() - started)
    return folder


# Pipeline time from stage manifests -------------------------------------------


def stage_wall_seconds(stage_folder: Path) -> float:
    """Return ``resources.wall_s`` from the manifest of one stage folder.

    Raises
    ------
    MissingFileError
        When the folder has no manifest.json.
    InputError
        When the manifest records no wall time.
    """
    path = stage_folder / "manifest.json"
    if not path.is_file():
        msg = f"no stage manifest at {path}; pass the run folders of a finished diff"
        raise MissingFileError(msg)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    wall = (manifest.get("resources") or {}).get("wall_s")
    if wall is None:
        msg = (
            f"{path} records no resources.wall_s; the stage was not computed by the harness "
            "runner (an artifacts: folder has no timings), so its pipeline time is unknown"
        )
        raise InputError(msg)
    return float(wall)


def pipeline_stage_seconds(
    reference_root: Path,
    candidate_root: Path,
    *,
    reference_computed: Sequence[str],
    candidate_computed: Sequence[str],
    isolated_stages: Sequence[str],
    written_between: tuple[float, float],
) -> dict[str, dict[str, float]]:
    """Return the wall time of each stage a diff computed, per side.

    Parameters
    ----------
    reference_root, candidate_root
        The two run folders of the diff.
    reference_computed, candidate_computed
        Stages each side computed in that diff (``SideRun.computed`` or the
        report's ``stages_computed``). Reused stages cost no pipeline time.
    isolated_stages
        Stages the diff ran on the reference's inputs. Each run lives in
        ``<candidate_root>/isolated/<stage>``.
    written_between
        Start and end of the diff as POSIX times. An isolated stage counts
        only when its manifest was written in that window, because neither
        the report nor the returned outcome records which isolated runs were
        reused from the cache.

    Returns
    -------
    dict
        ``{"reference": {stage: s}, "candidate": {...}, "isolated": {...}}``.
    """
    times: dict[str, dict[str, float]] = {"reference": {}, "candidate": {}, "isolated": {}}
    for stage in reference_computed:
        times["reference"][stage] = stage_wall_seconds(reference_root / stage)
    for stage in candidate_computed:
        times["candidate"][stage] = stage_wall_seconds(candidate_root / stage)
    start, end = written_between
    for stage in isolated_stages:
        folder = candidate_root / "isolated" / stage / stage
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            continue
        written = manifest.stat().st_mtime
        if start - MANIFEST_TIME_SLACK_S <= written <= end + MANIFEST_TIME_SLACK_S:
            times["isolated"][stage] = stage_wall_seconds(folder)
    return times


# One measured diff, in its own process ----------------------------------------


def _timed(
    function: Callable[..., Any], name: str, seconds: dict[str, float]
) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def measure_in_child(plan: DiffPlan, run_dir: str, cache_dir: str) -> None:
    """Run one diff in this new process and write its timings to ``result.json``.

    ``run_diff`` looks up its phase functions in ``harness.diff.command`` at
    call time, so replacing them there with timed wrappers splits the wall
    time without changing what runs.
    """
    import importlib
    import resource

    folder = Path(run_dir)
    handler = logging.FileHandler(folder / "diff.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)

    # The fork server skips a module it fails to import, which is then imported
    # here. Its import time is recorded and stays outside the measured diff.
    started = time.perf_counter()
    for module in PRE_IMPORTS:
        importlib.import_module(module)
    import_s = time.perf_counter() - started

    from harness.config import RunConfig
    from harness.diff import command

    phase_seconds: dict[str, float] = {}
    for name in PHASES:
        setattr(command, name, _timed(getattr(command, name), name, phase_seconds))

    config = RunConfig(preset=PRESET, device=DEVICE, allow_random_init=True)
    high_water_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with PeakRss(interval_s=RSS_INTERVAL_S) as memory:
        wall_start = time.time()
        clock_start = time.perf_counter()
        outcome = command.run_diff(
            data_dir=plan.data_dir,
            candidate=plan.candidate,
            config=config,
            out_dir=folder / "report",
            stage=plan.stage,
            cache_dir=Path(cache_dir),
            command=["bench_diff", plan.label],
        )
        diff_s = time.perf_counter() - clock_start
        wall_end = time.time()
    high_water_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = memory.peak
    if high_water_after > high_water_before:
        peak = max(peak, high_water_after)

    stage_seconds = pipeline_stage_seconds(
        outcome.capture.reference_root,
        outcome.capture.candidate_root,
        reference_computed=outcome.capture.reference.computed,
        candidate_computed=outcome.capture.candidate.computed,
        isolated_stages=outcome.judgement.isolated_stages,
        written_between=(wall_start, wall_end),
    )
    record = {
        "diff_s": diff_s,
        "phase_seconds": phase_seconds,
        "stage_seconds": stage_seconds,
        "stages_reused": {
            "reference": list(outcome.capture.reference.reused),
            "candidate": list(outcome.capture.candidate.reused),
        },
        "n_spots_kept": outcome.report.data.n_spots,
        "n_checks": len(outcome.report.checks),
        "rss_start": memory.start,
        "rss_peak": peak,
        "import_s": import_s,
    }
    (folder / "result.json").write_text(json.dumps(record, indent=2) + "\n")


def summarise(
    *,
    label: str,
    slice_name: str,
    n_spots: int,
    candidate: str,
    stages: str,
    cache: str,
    diff_s: float,
    stage_seconds: Mapping[str, Mapping[str, float]],
    phase_seconds: Mapping[str, float] | None,
) -> DiffMeasurement:
    """Turn a diff's wall time and stage times into overhead figures.

    The overhead splits into three parts. Store and cache is capture minus the
    chained stages: cache keys, the data-folder digest, output validation,
    writing and hashing artifacts. Compare is judge minus the isolated stages.
    Reports is building the report plus writing its files. ``ratio_chained``
    leaves the isolated reruns out of the pipeline time, so it compares the
    diff with running each pipeline once.
    """
    reference_s = sum(stage_seconds.get("reference", {}).values())
    candidate_s = sum(stage_seconds.get("candidate", {}).values())
    isolated_s = sum(stage_seconds.get("isolated", {}).values())
    pipeline_s = reference_s + candidate_s + isolated_s
    chained_s = reference_s + candidate_s
    capture_s = judge_s = report_s = store_s = compare_s = None
    if phase_seconds is not None:
        capture_s = phase_seconds.get("capture", 0.0)
        judge_s = phase_seconds.get("judge", 0.0)
        report_s = phase_seconds.get("build_report", 0.0) + phase_seconds.get("write_reports", 0.0)
        store_s = capture_s - reference_s - candidate_s
        compare_s = judge_s - isolated_s
    return DiffMeasurement(
        label=label,
        slice=slice_name,
        n_spots=n_spots,
        n_spots_kept=None,
        candidate=candidate,
        stages=stages,
        cache=cache,
        diff_s=diff_s,
        capture_s=capture_s,
        judge_s=judge_s,
        report_s=report_s,
        pipeline_reference_s=reference_s,
        pipeline_candidate_s=candidate_s,
        pipeline_isolated_s=isolated_s,
        pipeline_s=pipeline_s,
        overhead_s=diff_s - pipeline_s,
        ratio=diff_s / pipeline_s if pipeline_s > 0 else None,
        ratio_chained=diff_s / chained_s if chained_s > 0 else None,
        store_overhead_s=store_s,
        compare_s=compare_s,
        rss_start_mib=None,
        rss_peak_mib=None,
        import_s=None,
        load_average_before=None,
        load_average_after=None,
        stage_seconds={side: dict(times) for side, times in stage_seconds.items()},
    )


def run_plan(
    plan: DiffPlan, work_dir: Path, *, processes: multiprocessing.context.BaseContext
) -> DiffMeasurement:
    """Measure one planned diff in a forked process and return its figures."""
    run_dir = work_dir / "runs" / plan.label
    cache_dir = plan.cache_dir(work_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    if plan.cache == "cold" and cache_dir.exists():
        shutil.rmtree(cache_dir)
    if plan.cache == "warm" and not cache_dir.is_dir():
        msg = f"warm run {plan.label} needs the cache {cache_dir} of its cold run; run that first"
        raise InputError(msg)

    load_before = os.getloadavg()
    child = processes.Process(target=measure_in_child, args=(plan, str(run_dir), str(cache_dir)))
    child.start()
    child.join()
    load_after = os.getloadavg()
    result_path = run_dir / "result.json"
    if child.exitcode != 0 or not result_path.is_file():
        msg = (
            f"the diff {plan.label} failed in its child process (exit {child.exitcode}); "
            f"see {run_dir / 'diff.log'}"
        )
        raise RuntimeError(msg)
    record = json.loads(result_path.read_text())

    measurement = summarise(
        label=plan.label,
        slice_name=plan.data_dir.name,
        n_spots=plan.n_spots,
        candidate=plan.candidate,
        stages=plan.stage or "all",
        cache=plan.cache,
        diff_s=record["diff_s"],
        stage_seconds=record["stage_seconds"],
        phase_seconds=record["phase_seconds"],
    )
    measurement.n_spots_kept = record["n_spots_kept"]
    measurement.n_checks = record["n_checks"]
    measurement.stages_reused = record["stages_reused"]
    measurement.rss_start_mib = record["rss_start"] / MIB
    measurement.rss_peak_mib = record["rss_peak"] / MIB
    measurement.import_s = record["import_s"]
    measurement.load_average_before = _rounded(load_before)
    measurement.load_average_after = _rounded(load_after)
    logger.info(
        "%s: diff %.1f s, pipelines %.1f s, peak RSS %.0f MiB, load %.1f -> %.1f",
        plan.label,
        measurement.diff_s,
        measurement.pipeline_s,
        measurement.rss_peak_mib,
        load_before[0],
        load_after[0],
    )
    return measurement


def _rounded(load: Sequence[float]) -> tuple[float, float, float]:
    return (round(load[0], 2), round(load[1], 2), round(load[2], 2))


def build_plans(
    work_dir: Path,
    *,
    full_sizes: Sequence[int],
    stage_sizes: Sequence[int],
    candidates: Sequence[str],
    other_candidates_max_spots: int,
) -> list[DiffPlan]:
    """Return the diffs to measure, writing the slices they need.

    The first candidate runs the full cold diff on each full-pipeline slice,
    the others only on slices of up to ``other_candidates_max_spots`` spots.
    The stage-restricted and cached runs use only the first candidate. With
    the defaults the whole run took 27 minutes on the 2-core machine of
    docs/benchmarks.md, under a load average of 5 to 11.
    """
    plans: list[DiffPlan] = []
    first = candidates[0]
    slice_dir = work_dir / "slices"
    slice_dir.mkdir(parents=True, exist_ok=True)
    for n_spots in full_sizes:
        data_dir = image_slice(slice_dir, n_spots)
        for index, candidate in enumerate(candidates):
            if index > 0 and n_spots > other_candidates_max_spots:
                continue
            label = f"{n_spots}-all-{candidate}"
            plans.append(DiffPlan(label, data_dir, n_spots, candidate, None, "cold"))
        plans += _cached_pair(data_dir, n_spots, first, CACHED_STAGES_FULL)
    for n_spots in stage_sizes:
        data_dir = synthetic_slice(slice_dir, n_spots)
        plans += _cached_pair(data_dir, n_spots, first, CACHED_STAGES_LARGE)
    return plans


def _cached_pair(
    data_dir: Path, n_spots: int, candidate: str, stages: Sequence[str]
) -> list[DiffPlan]:
    plans = []
    for stage in stages:
        for cache in ("cold", "warm"):
            label = f"{n_spots}-{stage}-{candidate}-{cache}"
            plans.append(DiffPlan(label, data_dir, n_spots, candidate, stage, cache))
    return plans


# A diff that already finished ------------------------------------------------


def finished_diff_overhead(report_dir: Path, wall_s: float) -> DiffMeasurement:
    """Compute the overhead of a finished diff from its report and stage manifests.

    Parameters
    ----------
    report_dir
        The ``--out`` folder of ``harness diff`` (or its report.json). The run
        folders it names in ``figures_data`` must still exist.
    wall_s
        Wall time of that ``harness diff`` command in seconds, as measured
        by the caller (for example with ``time``). It includes interpreter
        start-up and imports, which the synthetic measurements leave out.

    Raises
    ------
    InputError
        When ``wall_s`` is not positive, the report names no run folders, or
        ``wall_s`` is shorter than the stages the report lists as computed.
    MissingFileError
        When the report or a stage manifest is missing.
    """
    from harness.report import DiffReport

    if not wall_s > 0:
        msg = f"--dlpfc-wall is {wall_s}; expected the diff's wall time in seconds, above 0"
        raise InputError(msg)
    report = DiffReport.load(report_dir)
    if report.figures_data is None or set(report.figures_data) != {"reference", "candidate"}:
        msg = (
            f"{report_dir}: report.json names no run folders (figures_data is "
            f"{report.figures_data!r}); pass a report written by `harness diff`"
        )
        raise InputError(msg)
    reference_root = Path(report.figures_data["reference"])
    candidate_root = Path(report.figures_data["candidate"])
    for root in (reference_root, candidate_root):
        if not root.is_dir():
            msg = (
                f"run folder {root} named by {report_dir} does not exist; "
                "the cache was removed or moved"
            )
            raise MissingFileError(msg)

    finished = datetime.fromisoformat(report.created_at).timestamp()
    stage_seconds = pipeline_stage_seconds(
        reference_root,
        candidate_root,
        reference_computed=report.sides["reference"].stages_computed,
        candidate_computed=report.sides["candidate"].stages_computed,
        isolated_stages=report.isolated_stages,
        written_between=(finished - wall_s, finished),
    )
    measurement = summarise(
        label="finished-diff",
        slice_name=f"{report.data.library_id or report.data.path} (finished diff)",
        n_spots=report.data.n_spots or 0,
        candidate=str(report.settings.get("candidate")),
        stages=_stage_span(report.stages_compared),
        cache="as recorded",
        diff_s=wall_s,
        stage_seconds=stage_seconds,
        phase_seconds=None,
    )
    if measurement.pipeline_s > wall_s:
        msg = (
            f"--dlpfc-wall {wall_s} s is shorter than the {measurement.pipeline_s:.1f} s the stage "
            f"manifests of {report_dir} record; pass the wall time of that same diff"
        )
        raise InputError(msg)
    measurement.n_spots_kept = report.data.n_spots
    measurement.n_checks = len(report.checks)
    measurement.stages_reused = {
        side: list(report.sides[side].stages_reused) for side in ("reference", "candidate")
    }
    reused = sum(len(stages) for stages in measurement.stages_reused.values())
    if reused:
        logger.warning(
            "%s: the diff reused %d stages from its cache, whose time is not counted as "
            "pipeline time; rerun it with an empty HARNESS_CACHE for a cold figure",
            report_dir,
            reused,
        )
    return measurement


def _stage_span(stages: Sequence[str]) -> str:
    from harness.contract.stages import STAGE_NAMES

    if list(stages) == list(STAGE_NAMES):
        return "all"
    if len(stages) == 1:
        return stages[0]
    return f"{stages[0]} to {stages[-1]}"


# Output ------------------------------------------------------------------------


def _number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _load(measurement: DiffMeasurement) -> str:
    if measurement.load_average_before is None or measurement.load_average_after is None:
        return "n/a"
    return f"{measurement.load_average_before[0]:.1f} → {measurement.load_average_after[0]:.1f}"


def overhead_table(rows: Sequence[DiffMeasurement]) -> str:
    """Format the cold diffs (and a finished one) as a Markdown table of overhead."""
    lines = [
        "| slice | spots kept | candidate | stages | diff (s) | pipelines (s) "
        "| of which isolated (s) | overhead (s) | diff / pipelines | diff / chained pipelines "
        "| peak RSS (MiB) | load 1 min |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row.cache == "warm":
            continue
        lines.append(
            f"| {row.slice} | {row.n_spots_kept} | {row.candidate} | {row.stages} "
            f"| {row.diff_s:.1f} | {row.pipeline_s:.1f} | {row.pipeline_isolated_s:.1f} "
            f"| {row.overhead_s:.1f} | {_number(row.ratio, 2)} | {_number(row.ratio_chained, 2)} "
            f"| {_number(row.rss_peak_mib, 0)} | {_load(row)} |"
        )
    return "\n".join(lines)


def breakdown_table(rows: Sequence[DiffMeasurement]) -> str:
    """Format the overhead of each measured cold diff split by phase as a Markdown table."""
    lines = [
        "| slice | candidate | stages | overhead (s) | store and cache (s) | compare (s) "
        "| reports (s) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.cache != "cold":
            continue
        lines.append(
            f"| {row.slice} | {row.candidate} | {row.stages} | {row.overhead_s:.1f} "
            f"| {_number(row.store_overhead_s)} | {_number(row.compare_s)} "
            f"| {_number(row.report_s)} |"
        )
    return "\n".join(lines)


def cached_table(rows: Sequence[DiffMeasurement]) -> str:
    """Format each warm rerun next to its cold run as a Markdown table."""
    lines = [
        "| slice | spots kept | stage | cold diff (s) | warm diff (s) | cold / warm "
        "| cold peak RSS (MiB) | warm peak RSS (MiB) | load 1 min (cold; warm) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    cold = {row.label.removesuffix("-cold"): row for row in rows if row.cache == "cold"}
    for row in rows:
        if row.cache != "warm":
            continue
        first = cold.get(row.label.removesuffix("-warm"))
        if first is None:
            continue
        lines.append(
            f"| {row.slice} | {row.n_spots_kept} | {row.stages} | {first.diff_s:.1f} "
            f"| {row.diff_s:.1f} | {first.diff_s / row.diff_s:.1f} "
            f"| {_number(first.rss_peak_mib, 0)} | {_number(row.rss_peak_mib, 0)} "
            f"| {_load(first)}; {_load(row)} |"
        )
    return "\n".join(lines)


def describe_machine() -> dict[str, Any]:
    """Return the machine of ``bench_reference.py`` plus every package the harness tracks."""
    from harness.provenance import package_versions

    machine = machine_description()
    machine["packages"] = package_versions()
    return machine


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--full-sizes",
        type=int,
        nargs="*",
        default=list(DEFAULT_FULL_SIZES),
        help="in-tissue spots of the slices that run every stage (default: 400 2000)",
    )
    parser.add_argument(
        "--stage-sizes",
        type=int,
        nargs="*",
        default=list(DEFAULT_STAGE_SIZES),
        help="in-tissue spots of the slices that run only the genes and graph stages "
        "(default: 5000 20000 50000)",
    )

    parser.add_argument(
        "--candidates",
        nargs="+",
        default=list(DEFAULT_CANDIDATES),
        choices=DEFAULT_CANDIDATES,
        help="candidates of the full cold diffs; the first also runs the restricted and "
        "cached diffs (default: strict legacy)",
    )
    parser.add_argument(
        "--other-candidates-max-spots",
        type=int,
        default=DEFAULT_OTHER_CANDIDATES_MAX_SPOTS,
        help="run the full diff of candidates after the first only on slices of up to "
        f"this many spots (default: {DEFAULT_OTHER_CANDIDATES_MAX_SPOTS})",
    )

    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO_ROOT / ".cache" / "bench_diff",
        help="folder for slices, caches and reports; slices are reused "
        "(default: .cache/bench_diff)",
    )
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="keep each diff's cache of run folders (removed after use by default; "
        "at 2000 spots a full diff stores about 6 GB of patches)",
    )

    parser.add_argument(
        "--dlpfc-report",
        type=Path,
        help="report folder of a finished `harness diff`; its overhead is computed from "
        "the stage manifests of its run folders",
    )
    parser.add_argument(
        "--dlpfc-wall",
        type=float,
        help="wall time in seconds of the diff behind --dlpfc-report",
    )

    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    arguments = parser.parse_args(argv)
    if (arguments.dlpfc_report is None) != (arguments.dlpfc_wall is None):
        parser.error("--dlpfc-report and --dlpfc-wall go together; pass both or neither")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurements and print the machine and three Markdown tables."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("reference", "harness", "candidate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    arguments = parse_arguments(argv)
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    started_utc = datetime.now(UTC).isoformat(timespec="seconds")

    rows: list[DiffMeasurement] = []
    if arguments.dlpfc_report is not None:
        try:
            rows.append(finished_diff_overhead(arguments.dlpfc_report, arguments.dlpfc_wall))
        except InputError as error:
            print(f"bench_diff: {error}", file=sys.stderr)
            return 2

    plans = build_plans(
        arguments.work_dir,
        full_sizes=arguments.full_sizes,
        stage_sizes=arguments.stage_sizes,
        candidates=arguments.candidates,
        other_candidates_max_spots=arguments.other_candidates_max_spots,
    )
    processes = multiprocessing.get_context("forkserver")
    processes.set_forkserver_preload(["bench_reference", *PRE_IMPORTS])
    for plan in plans:
        rows.append(run_plan(plan, arguments.work_dir, processes=processes))
        shares_cache = plan.cache == "cold" and plan.stage is not None
        if not arguments.keep_runs and not shares_cache:
            shutil.rmtree(plan.cache_dir(arguments.work_dir), ignore_errors=True)

    machine = describe_machine()
    print(json.dumps(machine, indent=2))
    print(overhead_table(rows))
    if plans:
        print()
        print(breakdown_table(rows))
        print()
        print(cached_table(rows))
    if arguments.json is not None:
        record = {
            "date_utc_start": started_utc,
            "date_utc_end": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine,
            "settings": {
                "preset": PRESET,
                "device": DEVICE,
                "allow_random_init": True,
                "synthetic_genes": SYNTHETIC_GENES,
                "seed": 0,
            },
            "measurements": [asdict(row) for row in rows],
        }
        arguments.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
