"""The ``harness`` command line.

Exit codes: 0 success, 1 failing checks (``diff``), 2 usage or input error,
3 internal error (a bug in the harness; the traceback is printed).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from harness.config import PRESETS, QUICK_ENCODER_PRESETS, RunConfig
from harness.console import make_console, setup_logging
from harness.contract.stages import STAGE_NAMES, stages_until, upstream_closure
from harness.errors import HarnessError

logger = logging.getLogger("harness.cli")

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description=(
            "Differential testing of spatial-transcriptomics pipelines: run the STAIG "
            "reference and a candidate stage by stage, compare every artifact, name "
            "each divergence. Exit codes: 0 success, 1 failing checks, 2 usage or "
            "input error, 3 internal error."
        ),
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (DEBUG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_run(commands)
    _add_diff(commands)
    _add_report(commands)
    _add_calibrate(commands)
    _add_attribute(commands)
    _add_demo(commands)
    return parser


def _add_synth(commands: argparse._SubParsersAction) -> None:
    synth = commands.add_parser(
        "synth",
        help="write a synthetic Visium slice (Space Ranger folder)",
        description=(
            "Write a synthetic 10x Visium slice as a Space Ranger folder: hexagonal grid "
            "with 100 µm spot spacing, seven cortical layers plus white matter, "
            "negative-binomial counts with domain marker genes, a full-resolution H&E-like "
            "tiled TIFF, hires and lowres PNGs and truth.txt. Deterministic per seed."
        ),
    )
    synth.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to create")
    synth.add_argument("--spots", type=int, default=2000, help="in-tissue spots (default: 2000)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--genes", type=int, default=4000, help="genes in the count matrix (default: 4000)")


def _add_common_run_options(parser: argparse.ArgumentParser, *, several_slices: bool = False) -> None:
    if several_slices:
        parser.add_argument(
            "--data", type=Path, action="append", default=None,
            help="Space Ranger folder of one slice; repeatable (default: the built-in synthetic slice)",
        )
    else:
        parser.add_argument(
            "--data", type=Path, default=None,
            help="Space Ranger folder of one slice (default: the built-in synthetic slice)",
        )
    parser.add_argument(
        "--preset", choices=PRESETS, default="quick",
        help=(
            "staig: the published settings; quick: small encoder and few epochs for CPUs; "
            "quick-encoders: small encoder, published training epochs (default: quick)"
        ),
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where image features and training run; cuda without a GPU is an error (default: auto)",
    )
    parser.add_argument(
        "--slice-config", default=None,
        help="per-slice hyperparameter set, e.g. 151673 (default: chosen from the data folder name)",
    )
    parser.add_argument("--seed", type=int, default=None, help="override the training seed")
    parser.add_argument(
        "--weights", action="append", default=[], metavar="ENCODER=PATH",
        help="local weights file of an image encoder; repeatable",
    )
    parser.add_argument(
        "--allow-random-init", action="store_true",
        help="run image encoders without weights (random initialisation, recorded in the encoder artifact)",
    )
    parser.add_argument("--fullres-image", type=Path, default=None, help="full-resolution TIFF path")
    parser.add_argument("--force", action="store_true", help="recompute stages even when cached")


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="run one side stage by stage into a run folder",
        description="Run the reference or a candidate up to a stage; cached stages are reused.",
    )
    run.add_argument("--side", choices=("reference", "candidate"), required=True, help="which pipeline")
    run.add_argument(
        "--candidate", default="strict",
        help="legacy, strict, module:object or artifacts:DIR (default: strict; only with --side candidate)",
    )
    run.add_argument("--out", type=Path, required=True, help="run folder to write")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--until", choices=STAGE_NAMES, default=None, help="last stage to run (default: all)")
    scope.add_argument("--stage", choices=STAGE_NAMES, default=None, help="one stage and what it needs")
    _add_common_run_options(run)


def _add_diff(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser(
        "diff",
        help="diff a candidate against the reference, stage by stage",
        description=(
            "Run (or load from the cache) the reference and a candidate, compare every "
            "artifact, and report each divergence as a named check with a diagnosis. "
            "Writes report.json, report.md, report.html and junit.xml. Exit codes: 0 no "
            "failing check, 1 a check failed, 2 usage or input error."
        ),
    )
    diff.add_argument(
        "--candidate", default="strict",
        help="legacy, strict, module:object or artifacts:DIR (default: strict)",
    )
    scope = diff.add_mutually_exclusive_group()
    scope.add_argument("--stage", choices=STAGE_NAMES, default=None, help="compare this stage only")
    scope.add_argument("--until", choices=STAGE_NAMES, default=None, help="compare stages up to this one")
    diff.add_argument(
        "--isolate", action="store_true",
        help="also run each candidate stage on the reference's inputs, to tell own from inherited divergences",
    )
    diff.add_argument("--out", type=Path, default=None, help="report folder (default: a new folder under reports/)")
    diff.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch CPU threads for the runs of this process (default: torch's, one per core)",
    )
    diff.add_argument(
        "--cache-dir", type=Path, default=None,
        help=(
            "cache folder shared with calibrate and attribute; run folders go to its runs/ "
            "(default: $HARNESS_CACHE or ~/.cache/staig-harness)"
        ),
    )
    diff.add_argument(
        "--waive", action="append", default=[], metavar="CHECK=REASON",
        help="declare an intended divergence (check id or pattern such as image_features.*); repeatable",
    )
    diff.add_argument(
        "--tolerance", action="append", default=[], metavar="CHECK:METRIC=VALUE",
        help="override a threshold, e.g. train.embedding:cka=0.8; repeatable",
    )
    _add_comparison_options(diff)
    _add_common_run_options(diff)


def _add_comparison_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--calibration`` and ``--candidate-option``, shared by diff and attribute."""
    parser.add_argument(
        "--calibration", type=Path, default=None,
        help="calibration file with thresholds (default: the one `harness calibrate` stored for this slice, if any)",
    )
    parser.add_argument(
        "--candidate-option", action="append", default=[], metavar="KEY=VALUE",
        help="option of the candidate, e.g. simulate_no_r=true or encoder=uni2; VALUE is JSON or text; repeatable",
    )


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="re-render a saved diff, optionally with other tolerances",
        description=(
            "Read DIR/report.json, judge its checks again against --tolerance values "
            "(no pipeline runs), print the table and rewrite the reports in DIR "
            "(or --out). Exit codes as for diff."
        ),
    )
    report.add_argument("report_dir", type=Path, metavar="DIR", help="folder written by harness diff")
    report.add_argument(
        "--tolerance", action="append", default=[], metavar="CHECK:METRIC=VALUE",
        help="override a threshold, e.g. metrics.ari:ari_gap=0.1; repeatable",
    )
    report.add_argument("--out", type=Path, default=None, help="write the re-rendered reports here instead")


def _add_matrix_options(parser: argparse.ArgumentParser, *, default_seeds: int) -> None:
    seeds = parser.add_argument_group("seeds")
    seeds.add_argument(
        "--seeds", type=int, default=default_seeds,
        help=f"number of training seeds, consecutive from --first-seed (default: {default_seeds})",
    )
    seeds.add_argument("--first-seed", type=int, default=0, help="first training seed (default: 0)")
    seeds.add_argument(
        "--seed-list", default=None, metavar="S1,S2,...",
        help="explicit training seeds, comma-separated (replaces --seeds and --first-seed)",
    )

    matrix = parser.add_argument_group("matrix executor (submitit)")
    matrix.add_argument(
        "--executor", choices=("local", "slurm"), default="local",
        help="local: child processes on this machine (default); slurm: submit to a Slurm queue",
    )
    matrix.add_argument(
        "--max-parallel", type=int, default=1,
        help="jobs running at once (local processes or the Slurm array parallelism; default: 1)",
    )
    matrix.add_argument(
        "--jobs-dir", type=Path, default=None,
        help="folder of job logs and pickles (default: <cache>/jobs/<command>-<time>)",
    )
    matrix.add_argument("--timeout-min", type=int, default=24 * 60, help="time limit per job in minutes (default: 1440)")
    matrix.add_argument(
        "--retries", type=int, default=0,
        help="submit a failed job again up to this many times (default: 0, failures are only reported)",
    )
    matrix.add_argument("--slurm-partition", default=None, help="Slurm partition (required with --executor slurm)")
    matrix.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per job (default: 0)")
    matrix.add_argument(
        "--cpus-per-job", type=int, default=None,
        help=(
            "CPUs per job: Slurm's cpus_per_task, and the torch threads of each job on either "
            "executor (default: the queue's on Slurm, all cores locally)"
        ),
    )
    matrix.add_argument("--mem-gb", type=float, default=None, help="memory per Slurm job in GB (default: the queue's)")

    parser.add_argument(
        "--cache-dir", type=Path, default=None,
        help="run folders shared with harness diff (default: $HARNESS_CACHE or ~/.cache/staig-harness)",
    )


def _add_calibrate(commands: argparse._SubParsersAction) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        help="measure the reference's seed-to-seed spread and store thresholds for diff",
        description=(
            "Run the reference at several training seeds (only the seeded stages are "
            "recomputed), compare every pair of seeds with the diff's own checks "
            "(embedding CKA and kNN overlap, domain ARI, refined-domain ARI, final-ARI "
            "gap) and store thresholds: similarity minimum minus --margin, gap maximum "
            "plus --margin. harness diff uses the file automatically for that slice and "
            "preset. Exit codes: 0 calibrated, 1 a job failed (see its log), 2 usage or "
            "input error, 3 internal error."
        ),
    )
    calibrate.add_argument(
        "--margin", type=float, default=0.05,
        help=(
            "slack on each threshold: subtracted from the similarity minimums, added to "
            "the gap maximum (default: 0.05)"
        ),
    )
    calibrate.add_argument(
        "--out", type=Path, default=None,
        help="calibration file (one slice only; default: <cache>/calibration/<slice>-<preset>.json)",
    )
    _add_matrix_options(calibrate, default_seeds=5)
    _add_common_run_options(calibrate, several_slices=True)


def _add_attribute(commands: argparse._SubParsersAction) -> None:
    attribute = commands.add_parser(
        "attribute",
        help="rank the candidate's divergent stages by their effect on the final ARI",
        description=(
            "Diff the candidate (with isolation), then for every stage that diverges on its "
            "own run two hybrids at each seed: the candidate with the reference's "
            "implementation of that stage (fix) and the reference with the candidate's "
            "(break). Reports the mean change in final ARI with a confidence interval, "
            "ranked, in the terminal, report.md, report.html (bar chart), report.json and "
            "attribution.json. Exit codes: 0 done, 1 a hybrid job failed (see its log), "
            "2 usage or input error, or a failed base run (nothing to attribute), "
            "3 internal error."
        ),
    )
    attribute.add_argument(
        "--candidate", default="legacy",
        help="legacy, strict, module:object or artifacts:DIR (default: legacy)",
    )
    attribute.add_argument(
        "--stages", default=None, metavar="S1,S2,...",
        help=(
            "stages to swap, without the isolated diff runs (default: every stage the "
            "isolated diff finds divergent on its own, and every stage whose recorded "
            "settings differ)"
        ),
    )
    attribute.add_argument(
        "--confidence", type=float, default=0.95, help="level of the intervals (default: 0.95)"
    )
    attribute.add_argument("--out", type=Path, default=None, help="report folder (default: reports/attribute-<time>)")
    _add_comparison_options(attribute)
    _add_matrix_options(attribute, default_seeds=3)
    _add_common_run_options(attribute)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="the quick-start job: diff the legacy candidate on the built-in synthetic slice",
        description=(
            "Generate the built-in synthetic slice once, then run `harness diff --candidate "
            "legacy --preset quick --candidate-option simulate_no_r=true` on it and write the reports. Exits 0 when the diff ran, "
            "whatever the checks say (the legacy candidate is meant to fail them)."
        ),
    )
    demo.add_argument("--out", type=Path, default=None, help="report folder (default: reports/demo)")
    demo.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where image features and training run (default: auto)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(verbose=args.verbose)
    # SIGTERM (kill, a Slurm or CI timeout) exits through SystemExit, so running matrix
    # jobs are cancelled and partly written files are cleaned up as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    handlers = {
        "synth": _cmd_synth,
        "run": _cmd_run,
        "diff": _cmd_diff,
        "report": _cmd_report,
        "calibrate": _cmd_calibrate,
        "attribute": _cmd_attribute,
        "demo": _cmd_demo,
    }
    try:
        return handlers[args.command](args)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - the last resort must report any bug with its traceback
        traceback.print_exc()
        print("internal error: this is a bug in the harness; please report it", file=sys.stderr)
        return EXIT_INTERNAL


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _cmd_synth(args: argparse.Namespace) -> int:
    from harness.synth import write_synthetic_slice

    path = write_synthetic_slice(args.out_dir, n_spots=args.spots, seed=args.seed, n_genes=args.genes)
    make_console().print(f"wrote synthetic slice to {path}", markup=False)
    return EXIT_OK


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Build the run configuration from the common run options."""
    from harness.errors import InputError

    weights: dict[str, str] = {}
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            msg = f"--weights {item!r}: expected ENCODER=PATH, e.g. --weights uni=/models/uni.bin"
            raise InputError(msg)
        weights[name] = path
    allow_random_init = args.allow_random_init
    if args.preset in QUICK_ENCODER_PRESETS and not weights and not allow_random_init:
        logger.info(
            "%s preset without --weights: image encoders start from random weights "
            "(recorded in each encoder artifact)",
            args.preset,
        )
        allow_random_init = True
    return RunConfig(
        preset=args.preset,
        slice_config=args.slice_config,
        device=args.device,
        seed=args.seed,
        allow_random_init=allow_random_init,
        weights=weights,
        fullres_image=str(args.fullres_image) if args.fullres_image else None,
    )


def resolve_data(data: Path | None) -> Path:
    """Return ``data``, or the built-in synthetic slice (generated once) when ``None``."""
    from harness.errors import InputError

    if data is None:
        from harness.synth import default_synthetic_slice

        return default_synthetic_slice()
    if not data.is_dir():
        msg = f"--data {data}: not a folder; pass a Space Ranger folder of one slice"
        raise InputError(msg)
    return data


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import run_side
    from harness.sides import candidate_implementation, reference_implementation

    config = config_from_args(args)
    data = resolve_data(args.data)
    if args.side == "reference":
        implementation = reference_implementation()
    else:
        implementation = candidate_implementation(args.candidate)
        config = config.with_options(candidate=args.candidate)
    if args.stage is not None:
        stages = [spec.name for spec in upstream_closure(args.stage)]
    else:
        stages = [spec.name for spec in stages_until(args.until)]
    result = run_side(
        implementation,
        side=args.side,
        out_dir=args.out,
        config=config,
        stages=stages,
        data_dir=data,
        force=args.force,
    )
    console = make_console()
    console.print(
        f"{args.side}: {len(result.computed)} stage(s) computed, {len(result.reused)} reused "
        f"from cache, written to {args.out}",
        markup=False,
    )
    if result.not_provided:
        console.print(f"not provided by this side: {', '.join(result.not_provided)}", markup=False)
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from harness.diff.command import diff_from_args

    return diff_from_args(args, argv=sys.argv)


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.diff.command import report_from_args

    return report_from_args(args)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate.command import calibrate_from_args

    return calibrate_from_args(args, argv=sys.argv)


def _cmd_attribute(args: argparse.Namespace) -> int:
    from harness.attribute.command import attribute_from_args

    return attribute_from_args(args, argv=sys.argv)


def _cmd_demo(args: argparse.Namespace) -> int:
    from harness.diff.command import run_diff
    from harness.report import render_terminal
    from harness.synth import default_synthetic_slice

    data = default_synthetic_slice()
    out = args.out or Path("reports") / "demo"
    outcome = run_diff(
        data_dir=data,
        candidate="legacy",
        config=RunConfig(preset="quick", device=args.device, allow_random_init=True),
        out_dir=out,
        # As on a machine without R, so the report shows the candidate's silent KMeans fallback.
        candidate_options={"simulate_no_r": True},
        command=["harness", "demo"],
    )
    console = make_console()
    render_terminal(outcome.report, console, written=outcome.written)
    failing = [check.check_id for check in outcome.report.checks if check.status in ("fail", "error")]
    console.print(
        f"demo finished: the legacy candidate fails {len(failing)} check(s); "
        f"open {outcome.written['html']} for the pictures",
        markup=False,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
