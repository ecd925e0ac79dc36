"""Run matrix jobs on a submitit executor: local processes by default, Slurm on a cluster.

The executor is submitit's: ``local`` starts each job as a child process on
this machine and ``slurm`` submits it to a Slurm queue. Every job writes its own stdout and
stderr logs under the jobs folder. A job that raises is reported with its
error and the path of its log; it is submitted again only when ``retries``
requests it.

submitit's local executor starts every submitted job at once, so jobs are
submitted in a window of at most ``max_parallel`` running jobs.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import InputError
from harness.matrix.jobs import JobResult, JobSpec, run_job

logger = logging.getLogger(__name__)

ExecutorKind = Literal["local", "slurm"]
EXECUTOR_KINDS: tuple[str, ...] = ("local", "slurm")

POLL_INTERVAL_S = 0.5
"""How often running local jobs are polled, in seconds."""

LOG_HINT = "\n\n----------------------\nYou can check full logs"
"""Start of the note submitit appends to a failed job's error text."""

ERROR_TAIL_CHARS = 4000
"""Characters of a failed job's error text kept in reports."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Settings of the executor that runs matrix jobs.

    Attributes
    ----------
    kind
        ``local`` (child processes, the default) or ``slurm``.
    jobs_dir
        Folder of submitit's pickles and of each job's stdout and stderr logs.
    max_parallel
        Jobs running at once (local: child processes; slurm: array parallelism).
    timeout_min
        Wall-clock limit per job in minutes (submitit's ``timeout_min``).
    retries
        How many times a failed job is submitted again (default 0: never).
    slurm_partition
        Slurm partition; required by ``slurm``.
    gpus_per_job, cpus_per_job, mem_gb
        Resources requested per job (Slurm; ``gpus_per_job`` also sets the
        visible GPUs of local jobs, and ``cpus_per_job`` the torch threads of
        every job).
    """

    kind: ExecutorKind = "local"
    jobs_dir: Path = Path("jobs")
    max_parallel: int = 1
    timeout_min: int = 24 * 60
    retries: int = 0
    slurm_partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    mem_gb: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTOR_KINDS:
            msg = f"unknown executor {self.kind!r}; expected one of {', '.join(EXECUTOR_KINDS)}"
            raise InputError(msg)
        if self.max_parallel < 1:
            msg = f"--max-parallel {self.max_parallel}: expected 1 or more"
            raise InputError(msg)
        if self.retries < 0:
            msg = f"--retries {self.retries}: expected 0 or more"
            raise InputError(msg)
        if self.cpus_per_job is not None and self.cpus_per_job < 1:
            msg = f"--cpus-per-job {self.cpus_per_job}: expected 1 or more"
            raise InputError(msg)
        if self.timeout_min < 1:
            msg = f"--timeout-min {self.timeout_min}: expected 1 or more minutes"
            raise InputError(msg)
        if self.kind == "slurm" and not self.slurm_partition:
            msg = "--executor slurm needs --slurm-partition NAME (the queue to submit to)"
            raise InputError(msg)


@dataclass(frozen=True)
class JobFailure:
    """A job that raised or was killed, with where to read why.

    Attributes
    ----------
    name
        The job's name.
    error
        The exception text (the tail of the traceback for child processes).
    stdout, stderr
        Paths of the job's log files.
    attempts
        How many times the job was submitted.
    """

    name: str
    error: str
    stdout: str | None
    stderr: str | None
    attempts: int

    def summary(self) -> str:
        """Return one line: the job, its attempts, the last line of its error and its log."""
        return (
            f"job {self.name} failed after {self.attempts} attempt(s): {last_line(self.error)} "
            f"(log: {self.stderr})"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the failure as plain JSON types."""
        return {
            "name": self.name,
            "error": self.error,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "attempts": self.attempts,
        }


@dataclass
class MatrixOutcome:
    """Results of the jobs that finished and failures of the others, by job name."""

    results: dict[str, JobResult] = field(default_factory=dict)
    failures: dict[str, JobFailure] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """``True`` when every job finished."""
        return not self.failures

    def merge(self, other: MatrixOutcome) -> None:
        """Add ``other``'s results and failures to this outcome."""
        self.results.update(other.results)
        self.failures.update(other.failures)


def seed_groups(seeds: Sequence[int], settings: ExecutorSettings) -> list[list[int]]:
    """Split ``seeds`` into the groups that one job each runs.

    A local job starts a fresh Python that imports torch and R, which costs more
    than a seed's training on a small slice. So the local executor runs all seeds
    in one job, and Slurm runs each seed as a job of its own.
    """
    if settings.kind == "local":
        return [list(seeds)]
    return [[seed] for seed in seeds]


def run_with_threads(
    function: Callable[[JobSpec], JobResult], threads: int, job: JobSpec
) -> JobResult:
    """Run ``function(job)`` with torch limited to ``threads`` CPU threads.

    Processes that each start as many OpenMP threads as the machine has
    cores slow each other down many times over. On a 2-core machine busy
    with other jobs, training on 400 spots took 7 times longer with 2
    threads than with 1. So a job uses the CPUs it was given.
    """
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return function(job)


def make_executor(settings: ExecutorSettings, *, name: str = "harness") -> Any:
    """Return a submitit executor configured from ``settings``."""
    import submitit

    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    executor = submitit.AutoExecutor(folder=str(settings.jobs_dir / "%j"), cluster=settings.kind)
    parameters: dict[str, Any] = {"timeout_min": settings.timeout_min, "name": name}
    if settings.kind == "slurm":
        parameters["slurm_partition"] = settings.slurm_partition
        parameters["slurm_array_parallelism"] = settings.max_parallel
        if settings.gpus_per_job:
            parameters["gpus_per_node"] = settings.gpus_per_job
        if settings.cpus_per_job:
            parameters["cpus_per_task"] = settings.cpus_per_job
        if settings.mem_gb:
            parameters["mem_gb"] = settings.mem_gb
    elif settings.kind == "local" and settings.gpus_per_job:
        parameters["gpus_per_node"] = settings.gpus_per_job
    executor.update_parameters(**parameters)
    return executor


def run_matrix(
    jobs: Sequence[JobSpec],
    settings: ExecutorSettings,
    *,
    function: Callable[[JobSpec], JobResult] = run_job,
) -> MatrixOutcome:
    """Run ``jobs`` on the executor of ``settings`` and collect results and failures.

    Parameters
    ----------
    jobs
        Jobs with unique names; they may run in any order and at the same time.
    settings
        Executor, parallelism, timeout and retries.
    function
        What each job runs (default :func:`harness.matrix.jobs.run_job`).

    Returns
    -------
    MatrixOutcome
        Results by job name, and the jobs that still failed after the retries.
    """
    if settings.cpus_per_job:
        function = functools.partial(run_with_threads, function, settings.cpus_per_job)
    names = [job.name for job in jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        msg = f"matrix job names must be unique; repeated: {duplicates}"
        raise InputError(msg)
    outcome = MatrixOutcome()
    pending = list(jobs)
    attempts: dict[str, int] = {}
    try:
        for round_index in range(settings.retries + 1):
            if not pending:
                break
            if round_index:
                logger.info(
                    "retrying %d failed job(s): %s", len(pending), ", ".join(j.name for j in pending)
                )
            failed = _run_window(pending, settings, function, attempts, outcome)
            pending = [job for job in jobs if job.name in failed]
            for job in pending:
                if round_index < settings.retries:
                    outcome.failures.pop(job.name, None)
    finally:
        _remove_empty_pattern_folder(settings.jobs_dir)
    for failure in outcome.failures.values():
        logger.error(
            "job %s failed after %d attempt(s): %s (log: %s)",
            failure.name,
            failure.attempts,
            last_line(failure.error),
            failure.stderr,
        )
    return outcome


def _remove_empty_pattern_folder(jobs_dir: Path) -> None:
    """Remove the empty folder literally named ``%j`` that submitit makes beside the job folders."""
    pattern = jobs_dir / "%j"
    if pattern.is_dir() and not any(pattern.iterdir()):
        pattern.rmdir()


def _run_window(
    jobs: Sequence[JobSpec],
    settings: ExecutorSettings,
    function: Callable[[JobSpec], JobResult],
    attempts: dict[str, int],
    outcome: MatrixOutcome,
) -> set[str]:
    executor = make_executor(settings)
    queue = list(jobs)
    running: list[tuple[JobSpec, Any]] = []
    failed: set[str] = set()
    try:
        while queue or running:
            while queue and len(running) < settings.max_parallel:
                job = queue.pop(0)
                attempts[job.name] = attempts.get(job.name, 0) + 1
                logger.info("submitting job %s (attempt %d)", job.name, attempts[job.name])
                with startup_library_path():
                    handle = executor.submit(function, job)
                running.append((job, handle))
                _index_job(settings.jobs_dir, job, handle, attempts[job.name])
            finished = [(job, handle) for job, handle in running if handle.done()]
            if not finished:
                time.sleep(POLL_INTERVAL_S)
                continue
            for job, handle in finished:
                running.remove((job, handle))
                _collect(job, handle, attempts, outcome, failed)
    except BaseException:
        # Interrupted (Ctrl-C) or broken: stop the jobs still running rather than orphan them.
        for job, handle in running:
            logger.warning("cancelling job %s", job.name)
            handle.cancel(check=False)
        raise
    return failed


JOB_INDEX = "index.jsonl"
"""File in the jobs folder with one line per submitted job: name, attempt, job id, log paths."""


def _index_job(jobs_dir: Path, job: JobSpec, handle: Any, attempt: int) -> None:
    """Append the job's name, submitit id and log paths to :data:`JOB_INDEX`.

    submitit names each job's folder by its id alone; the index maps the ids
    back to the matrix's job names.
    """
    paths = getattr(handle, "paths", None)
    entry = {
        "name": job.name,
        "attempt": attempt,
        "job_id": str(getattr(handle, "job_id", "")),
        "stdout": str(paths.stdout) if paths is not None else None,
        "stderr": str(paths.stderr) if paths is not None else None,
    }
    with (jobs_dir / JOB_INDEX).open("a", encoding="utf-8") as index:
        index.write(json.dumps(entry) + "\n")
    logger.debug("job %s has id %s, log %s", job.name, entry["job_id"], entry["stderr"])


@contextmanager
def startup_library_path() -> Iterator[None]:
    """Set ``LD_LIBRARY_PATH`` to its value at startup while a job is submitted.

    See :data:`harness.STARTUP_LIBRARY_PATH`: an embedded R in this process
    changes the path, and jobs inherit the environment at submission.
    """
    from harness import STARTUP_LIBRARY_PATH

    current = os.environ.get("LD_LIBRARY_PATH")
    _set_library_path(STARTUP_LIBRARY_PATH)
    try:
        yield
    finally:
        _set_library_path(current)


def _set_library_path(value: str | None) -> None:
    if value is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = value


def _collect(
    job: JobSpec, handle: Any, attempts: dict[str, int], outcome: MatrixOutcome, failed: set[str]
) -> None:
    try:
        result = handle.result()
    except Exception as error:  # noqa: BLE001 - every failure is reported with its log
        outcome.failures[job.name] = _failure(job, handle, error, attempts[job.name])
        failed.add(job.name)
        logger.warning("job %s failed: %s", job.name, last_line(outcome.failures[job.name].error))
        return
    outcome.results[job.name] = result
    logger.info("job %s finished in %.1f s", job.name, result.wall_s)


def _failure(job: JobSpec, handle: Any, error: BaseException, attempts: int) -> JobFailure:
    paths = getattr(handle, "paths", None)
    stdout = str(paths.stdout) if paths is not None else None
    stderr = str(paths.stderr) if paths is not None else None
    # submitit appends where the logs are; the paths are kept in their own fields.
    text = str(error).split(LOG_HINT, 1)[0].rstrip()
    if not text or type(error).__name__ != "FailedJobError":
        text = f"{type(error).__name__}: {text}"
    return JobFailure(
        name=job.name,
        error=text[-ERROR_TAIL_CHARS:],
        stdout=stdout,
        stderr=stderr,
        attempts=attempts,
    )


def last_line(text: str) -> str:
    """Return the last non-blank line of ``text`` (an exception's own line in a traceback)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text
