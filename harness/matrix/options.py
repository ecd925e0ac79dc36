"""Command-line options shared by the matrix commands (``calibrate``, ``attribute``)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from harness.config import RunConfig
from harness.errors import InputError
from harness.matrix.executor import ExecutorSettings


def matrix_config(args: argparse.Namespace, *, command: str) -> RunConfig:
    """Return the run configuration of a matrix command, which sets the seeds itself.

    Raises
    ------
    InputError
        When ``--seed`` is given: the matrix commands take ``--seeds`` or ``--seed-list``.
    """
    from harness.cli import config_from_args

    config = config_from_args(args)
    if config.seed is not None:
        msg = f"harness {command} sets the seeds itself; use --seeds or --seed-list instead of --seed"
        raise InputError(msg)
    return config


def seeds_from_args(args: argparse.Namespace) -> list[int]:
    """Return ``--seed-list``, or ``--seeds`` consecutive seeds from ``--first-seed``."""
    if args.seed_list:
        items = [item.strip() for item in args.seed_list.split(",") if item.strip()]
        try:
            seeds = [int(item) for item in items]
        except ValueError:
            msg = f"--seed-list {args.seed_list!r}: expected integers separated by commas, e.g. 0,1,2"
            raise InputError(msg) from None
        repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if repeated:
            msg = (
                f"--seed-list {args.seed_list!r}: seed(s) {repeated} repeat; a repeated seed "
                "runs the same pipeline twice and narrows the interval falsely. List distinct seeds"
            )
            raise InputError(msg)
        return seeds
    if args.seeds < 1:
        msg = f"--seeds {args.seeds}: expected 1 or more"
        raise InputError(msg)
    return list(range(args.first_seed, args.first_seed + args.seeds))


def executor_from_args(args: argparse.Namespace, *, cache_dir: Path, what: str) -> ExecutorSettings:
    """Return the executor settings of the matrix options."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return ExecutorSettings(
        kind=args.executor,
        jobs_dir=args.jobs_dir or cache_dir / "jobs" / f"{what}-{stamp}",
        max_parallel=args.max_parallel,
        timeout_min=args.timeout_min,
        retries=args.retries,
        slurm_partition=args.slurm_partition,
        gpus_per_job=args.gpus_per_job,
        cpus_per_job=args.cpus_per_job,
        mem_gb=args.mem_gb,
    )
