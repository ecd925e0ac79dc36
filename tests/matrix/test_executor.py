"""The run matrix on submitit's local executor: results, reported failures, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.errors import InputError
from harness.matrix.executor import ExecutorSettings, run_matrix
from harness.matrix.jobs import JobResult, JobSpec, Step, run_job
from harness.synth import write_synthetic_slice


def answer(job: JobSpec) -> JobResult:
    """Return a result naming the job, or raise for jobs tagged to fail."""
    if job.tags.get("fail"):
        msg = f"planted failure in {job.name}"
        raise RuntimeError(msg)
    marker = job.tags.get("fail_once")
    if marker and not Path(marker).exists():
        Path(marker).write_text("failed once", encoding="utf-8")
        msg = "planted first-attempt failure"
        raise RuntimeError(msg)
    return JobResult(
        name=job.name,
        tags=dict(job.tags),
        computed=(),
        reused=(),
        scores={"run": {"ari": 0.5}},
        wall_s=0.0,
    )


def local(tmp_path: Path, **options) -> ExecutorSettings:
    return ExecutorSettings(kind="local", jobs_dir=tmp_path / "jobs", timeout_min=10, **options)


def test_failed_job_reported_with_error_and_log(tmp_path):
    jobs = [JobSpec("good", ()), JobSpec("bad", (), tags={"fail": True})]
    outcome = run_matrix(jobs, local(tmp_path, max_parallel=2), function=answer)
    assert sorted(outcome.results) == ["good"]
    assert outcome.results["good"].ari("run") == 0.5
    failure = outcome.failures["bad"]
    assert "RuntimeError: planted failure in bad" in failure.error
    assert failure.attempts == 1
    assert Path(failure.stderr).is_file()
    assert "planted failure in bad" in Path(failure.stderr).read_text(encoding="utf-8")
    assert not outcome.ok
    assert Path(failure.stderr).parent.parent == tmp_path / "jobs"
    assert not (tmp_path / "jobs" / "%j").exists()
    index = [
        json.loads(line)
        for line in (tmp_path / "jobs" / "index.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(entry["name"] for entry in index) == ["bad", "good"]
    bad = next(entry for entry in index if entry["name"] == "bad")
    assert bad["stderr"] == failure.stderr
    assert bad["attempt"] == 1
    assert bad["job_id"] in failure.stderr


def test_failed_job_is_not_retried_by_default(tmp_path):
    marker = tmp_path / "marker"
    outcome = run_matrix(
        [JobSpec("flaky", (), tags={"fail_once": str(marker)})], local(tmp_path), function=answer
    )
    assert outcome.failures["flaky"].attempts == 1
    assert "planted first-attempt failure" in outcome.failures["flaky"].error


def test_retry_on_request_recovers_flaky_job(tmp_path):
    marker = tmp_path / "marker"
    outcome = run_matrix(
        [JobSpec("flaky", (), tags={"fail_once": str(marker)})],
        local(tmp_path, retries=1),
        function=answer,
    )
    assert outcome.ok
    assert list(outcome.results) == ["flaky"]


def test_repeated_job_names_are_rejected(tmp_path):
    with pytest.raises(InputError, match="repeated: \\['twin'\\]"):
        run_matrix([JobSpec("twin", ()), JobSpec("twin", ())], local(tmp_path), function=answer)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "slurm"}, "--slurm-partition"),
        ({"kind": "ssh"}, "unknown executor 'ssh'"),
        ({"max_parallel": 0}, "--max-parallel 0"),
        ({"retries": -1}, "--retries -1"),
        ({"timeout_min": 0}, "--timeout-min 0"),
        ({"cpus_per_job": 0}, "--cpus-per-job 0"),
    ],
)
def test_bad_executor_settings_name_the_option(options, message):
    with pytest.raises(InputError, match=message):
        ExecutorSettings(**options)


def test_real_side_run_through_local_executor(tmp_path):
    from dataclasses import replace

    from harness.sides import reference_implementation

    data = write_synthetic_slice(tmp_path / "slice", n_spots=120, seed=3, n_genes=300)
    planned = reference_implementation().identity()["source_sha256"]
    step = Step(
        implementation="reference",
        side="reference",
        config=RunConfig(preset="quick").to_dict(),
        data_dir=str(data),
        out_dir=str(tmp_path / "run"),
        stages=("load", "genes", "graph"),
        source_sha256=planned,
    )
    other_code = replace(step, out_dir=str(tmp_path / "other"), source_sha256="0" * 64)
    broken = Step(
        implementation="reference",
        side="reference",
        config=RunConfig(preset="quick").to_dict(),
        data_dir=str(tmp_path / "missing"),
        out_dir=str(tmp_path / "broken"),
        stages=("load",),
    )
    outcome = run_matrix(
        [
            JobSpec("graph", (step,)),
            JobSpec("missing data", (broken,)),
            JobSpec("other code", (other_code,)),
        ],
        local(tmp_path, max_parallel=2),
    )
    result = outcome.results["graph"]
    assert [item.rsplit(":", 1)[1] for item in result.computed] == ["load", "genes", "graph"]
    assert result.scores == {}
    assert (tmp_path / "run" / "graph" / "manifest.json").is_file()
    failure = outcome.failures["missing data"]
    assert "missing" in failure.error
    assert Path(failure.stderr).is_file()
    mismatch = outcome.failures["other code"].error
    assert "the worker loaded StaigReference from" in mismatch
    assert f"source sha256 {planned[:12]}" in mismatch
    assert "planned the job loaded source sha256 000000000000" in mismatch
    assert not (tmp_path / "other").exists()

    again = run_job(JobSpec("graph again", (step,)))
    assert again.computed == ()
    assert len(again.reused) == 3


def sleep_long(job: JobSpec) -> JobResult:
    """Sleep far longer than any test runs."""
    import time

    time.sleep(600)
    return answer(job)


def test_interrupt_cancels_running_jobs(tmp_path, monkeypatch):
    import time

    import psutil

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.matrix.executor.time.sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_matrix([JobSpec("sleeper", ())], local(tmp_path), function=sleep_long)
    monkeypatch.undo()

    jobs_dir = str(tmp_path / "jobs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = [p for p in psutil.process_iter(["cmdline"])
                 if any(jobs_dir in part for part in (p.info["cmdline"] or []))]
        if not alive:
            break
        time.sleep(0.5)
    assert alive == []


def library_path(job: JobSpec) -> JobResult:
    """Return the job's LD_LIBRARY_PATH in its scores."""
    import os

    return JobResult(name=job.name, tags={}, computed=(), reused=(), wall_s=0.0,
                     scores={"env": {"path": os.environ.get("LD_LIBRARY_PATH")}})


def test_jobs_start_with_startup_library_path(tmp_path, monkeypatch):
    import os

    import harness

    # What starting R through rpy2 does to this process's environment.
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/R/lib:/usr/lib/x86_64-linux-gnu")
    outcome = run_matrix([JobSpec("env", ())], local(tmp_path), function=library_path)

    inherited = outcome.results["env"].scores["env"]["path"] or ""
    assert "/usr/lib/R/lib" not in inherited
    assert "/usr/lib/x86_64-linux-gnu" not in (harness.STARTUP_LIBRARY_PATH or "")
    assert "/usr/lib/x86_64-linux-gnu" not in inherited
    assert os.environ["LD_LIBRARY_PATH"] == "/usr/lib/R/lib:/usr/lib/x86_64-linux-gnu"


def thread_count(job: JobSpec) -> JobResult:
    """Return the job's torch thread count and OMP_NUM_THREADS in its scores."""
    import os

    import torch

    return JobResult(name=job.name, tags={}, computed=(), reused=(), wall_s=0.0,
                     scores={"threads": {"torch": torch.get_num_threads(),
                                         "omp": os.environ.get("OMP_NUM_THREADS")}})


def test_cpus_per_job_sets_threads_of_local_jobs(tmp_path):
    outcome = run_matrix([JobSpec("one", ())], local(tmp_path, cpus_per_job=1), function=thread_count)
    assert outcome.results["one"].scores["threads"] == {"torch": 1, "omp": "1"}
