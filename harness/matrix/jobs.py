"""Jobs of the run matrix: picklable descriptions of side runs and the function that runs them.

A job is a short list of :class:`Step` objects executed in order in one
process. Each step runs some stages of one implementation into a run folder
through :func:`harness.runner.run_side`, so a stage already stored with the
same cache key is reused, whichever job stored it. Inputs that a step does
not compute come from other run folders named in :attr:`Step.feeds`
(cross-feeding), which is how seeded runs reuse the seed-independent stages
and how hybrid pipelines swap one stage between the sides.

Jobs carry only plain data (paths, names, the run configuration as a dict),
so any submitit executor can pickle them to another process or a Slurm node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.matrix.adapters import Adapt, run_adapt

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """Run ``stages`` of one implementation into ``out_dir``.

    Attributes
    ----------
    implementation
        ``"reference"``, or a ``--candidate`` value (``legacy``, ``strict``,
        ``module:object``, ``artifacts:DIR``).
    side
        ``"reference"`` or ``"candidate"``, recorded in the manifests.
    config
        :meth:`harness.config.RunConfig.to_dict` of the run configuration.
    data_dir
        The Space Ranger folder.
    out_dir
        The run folder the stages are written to.
    stages
        Stages to compute (or reuse from ``out_dir`` when cached).
    feeds
        Stage name to the run folder whose stored stage replaces this
        implementation's own output of that stage as an input.
    source_sha256
        Digest of the implementation's package source where the job was
        planned; ``None`` skips the check that the worker loaded the same code.
    """

    implementation: str
    side: str
    config: Mapping[str, Any]
    data_dir: str
    out_dir: str
    stages: tuple[str, ...]
    feeds: Mapping[str, str] = field(default_factory=dict)
    source_sha256: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """One job of the matrix: a name and its steps.

    Attributes
    ----------
    name
        Unique, human-readable name, e.g. ``"151673 reference seed 2"``.
    steps
        Executed in order; a later step may feed from an earlier one's folder.
        An :class:`~harness.matrix.adapters.Adapt` step resizes a stage's
        image artifacts for the other side of a hybrid.
    tags
        Free-form labels the caller uses to group results (slice, side, seed).
    """

    name: str
    steps: tuple[Step | Adapt, ...]
    tags: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    """Result of a finished job.

    Attributes
    ----------
    name, tags
        Copied from the :class:`JobSpec`.
    computed, reused
        ``"<out_dir>:<stage>"`` of every stage computed or reused from the cache.
    scores
        Run folder (a step's ``out_dir``) to its ``metrics/scores`` JSON, for
        every step folder that contains a metrics stage.
    wall_s
        Wall time of the job in seconds.
    """

    name: str
    tags: Mapping[str, Any]
    computed: tuple[str, ...]
    reused: tuple[str, ...]
    scores: Mapping[str, Mapping[str, Any]]
    wall_s: float

    def ari(self, folder: str | Path) -> float | None:
        """Return the final ARI stored in ``folder``'s metrics, or ``None`` when absent."""
        scores = self.scores.get(str(folder))
        value = None if scores is None else scores.get("ari")
        return None if value is None else float(value)


def run_job(job: JobSpec) -> JobResult:
    """Execute ``job``'s steps in order and return its result.

    The executor runs this function in a worker process. It raises whatever a
    stage raises, and the executor reports that error with the job's log.
    """
    from harness.artifacts.store import RunStore
    from harness.config import RunConfig
    from harness.console import setup_logging
    from harness.runner import run_side
    from harness.sides import candidate_implementation, reference_implementation

    if not logging.getLogger().handlers:
        setup_logging(verbose=0)
    started = time.perf_counter()
    computed: list[str] = []
    reused: list[str] = []
    for step in job.steps:
        if isinstance(step, Adapt):
            done = computed if run_adapt(step) else reused
            done.append(f"{step.out_dir}:{step.stage}")
            continue
        implementation = (
            reference_implementation()
            if step.implementation == "reference"
            else candidate_implementation(step.implementation)
        )
        check_same_source(implementation, step.source_sha256, job=job.name)
        config = RunConfig(**dict(step.config))
        inputs_from = {
            stage: _open_fed(RunStore(Path(folder)), stage, job=job.name)
            for stage, folder in step.feeds.items()
        }
        logger.info(
            "%s: %s stages %s into %s",
            job.name,
            step.implementation,
            ", ".join(step.stages),
            step.out_dir,
        )
        outcome = run_side(
            implementation,
            side=step.side,
            out_dir=Path(step.out_dir),
            config=config,
            stages=list(step.stages),
            data_dir=Path(step.data_dir),
            inputs_from=inputs_from,
        )
        computed.extend(f"{step.out_dir}:{stage}" for stage in outcome.computed)
        reused.extend(f"{step.out_dir}:{stage}" for stage in outcome.reused)
    scores = {}
    for folder in dict.fromkeys(step.out_dir for step in job.steps):
        stored = read_scores(Path(folder))
        if stored is not None:
            scores[folder] = stored
    return JobResult(
        name=job.name,
        tags=dict(job.tags),
        computed=tuple(computed),
        reused=tuple(reused),
        scores=scores,
        wall_s=time.perf_counter() - started,
    )


def check_same_source(implementation: Any, expected: str | None, *, job: str) -> None:
    """Raise when the worker loaded other code for ``implementation`` than the planning process.

    A worker imports packages from its own path: a Slurm node's installation,
    or the working folder that ``python -m`` puts first. Stages computed from
    other code would be stored under other cache keys and mixed into one
    attribution without notice.

    Raises
    ------
    harness.errors.InputError
        When the digests differ, naming the file the worker loaded.
    """
    import inspect

    from harness.errors import InputError

    if expected is None:
        return
    found = implementation.identity().get("source_sha256")
    if found == expected:
        return
    location = inspect.getfile(type(implementation))
    msg = (
        f"job {job!r}: the worker loaded {type(implementation).__qualname__} from {location} "
        f"(source sha256 {str(found)[:12]}), but the command that planned the job loaded "
        f"source sha256 {expected[:12]}; the worker imports from another path (its working "
        "folder or PYTHONPATH). Start the command from the folder whose code it should run, "
        "or install that code, so that both load the same files"
    )
    raise InputError(msg)


def read_scores(run_dir: Path) -> dict[str, Any] | None:
    """Return the ``metrics/scores`` JSON stored in ``run_dir``, or ``None`` when absent."""
    from harness.artifacts.store import RunStore

    record = RunStore(run_dir).read_stage("metrics", verify=False)
    if record is None or "scores" not in record.artifacts:
        return None
    return dict(record.load("scores"))


def _open_fed(store: Any, stage: str, *, job: str) -> Any:
    from harness.errors import InputError

    record = store.read_stage(stage, verify=False)
    if record is None:
        msg = (
            f"job {job!r} feeds stage {stage!r} from {store.root}, which has no stored {stage!r}; "
            "the job that computes it must finish first"
        )
        raise InputError(msg)
    return record
