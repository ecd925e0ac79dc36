"""Time the deterministic reference stages on DLPFC 151673 and on synthetic slices.

Stages measured: genes, graph, edge_probabilities, pseudo_labels and refine,
each through its ``reference.stages.<stage>.run`` entry point. Inputs come
from the reference's own load stage. Two inputs are stand-ins, because the
stages that make them are not measured here:

* ``image_embedding/img_emb`` is a random standard-normal (N, 16) array
  (seed 0), not an image embedding;
* ``cluster/domains`` for refine are the slice's ground-truth layers.

Each stage runs in its own fresh process (multiprocessing, spawn) that reads
the inputs from ``.npy``/``.npz`` files, runs the stage once on the first 300
spots (so numba compilation inside scanpy is not counted), then once on the
whole slice. The script reports that run's wall time and the process's
resident memory (RSS, sampled every 5 ms by a background thread): the peak
during the stage and that peak minus the RSS when the stage started.

Usage::

    python scripts/bench_reference.py --sizes 5000 20000 50000 --json bench.json

Synthetic slices are written with ``harness.synth.write_synthetic_slice``
(5000 genes like the DLPFC matrix, lowres image only) into ``--work-dir``
and reused when already there.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from harness.config import RunConfig  # noqa: E402
from harness.implementation import StageContext  # noqa: E402
from harness.synth import (  # noqa: E402
    GENERATOR_VERSION,
    read_synthetic_spec,
    write_synthetic_slice,
)
from reference.config import resolve_params  # noqa: E402
from reference.stages import (  # noqa: E402
    edge_probabilities,
    genes,
    graph,
    load,
    pseudo_labels,
    refine,
)

logger = logging.getLogger("bench_reference")

DEFAULT_DLPFC = REPO_ROOT.parent / "shared" / "data" / "dlpfc" / "151673"
DEFAULT_SIZES = (5000, 20000, 50000)
# Genes of the synthetic count matrices, as many as the 151673 test matrix has (5000).
SYNTHETIC_GENES = 5000
# Spots of the untimed first run of each stage.
WARM_UP_SPOTS = 300
SAMPLE_INTERVAL_S = 0.005
IMG_EMB_DIMS = 16
MIB = 2**20


@dataclass(frozen=True)
class Measurement:
    """Wall time and resident memory of one stage on one slice."""

    slice: str
    n_spots: int
    n_genes: int
    stage: str
    seconds: float
    rss_start_mib: float
    rss_peak_mib: float
    rss_increase_mib: float


class PeakRss:
    """Track the peak resident set size of this process while the block runs."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start = 0
        self.peak = 0

    def __enter__(self) -> PeakRss:
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self._interval_s)


def measure(call: Callable[[], Any]) -> tuple[Any, float, PeakRss]:
    """Run ``call`` once and return its result, wall seconds and memory tracker."""
    gc.collect()
    with PeakRss() as memory:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return result, seconds, memory


def synthetic_slice(work_dir: Path, n_spots: int) -> Path:
    """Return the folder of a synthetic slice of ``n_spots``, writing it when missing."""
    folder = work_dir / f"synthetic_{n_spots}"
    if (folder / "synthetic.json").is_file():
        spec = read_synthetic_spec(folder)
        if (spec.generator_version, spec.n_spots, spec.n_genes, spec.seed) == (
            GENERATOR_VERSION,
            n_spots,
            SYNTHETIC_GENES,
            0,
        ):
            return folder
        logger.info("%s was written by another generator version or settings; rewriting", folder)
        shutil.rmtree(folder)
    started = time.perf_counter()
    write_synthetic_slice(
        folder, n_spots=n_spots, seed=0, n_genes=SYNTHETIC_GENES, image_levels=("lowres",)
    )
    logger.info("wrote %s in %.1f s", folder, time.perf_counter() - started)
    return folder


# Input files each stage's child process reads.
STAGE_FILES = {
    "genes": ("counts", "genes"),
    "graph": ("spatial",),
    "edge_probabilities": ("edges", "img_emb", "spatial"),
    "pseudo_labels": ("img_emb",),
    "refine": ("labels", "spatial"),
}
STAGE_MODULES = {
    "genes": genes,
    "graph": graph,
    "edge_probabilities": edge_probabilities,
    "pseudo_labels": pseudo_labels,
    "refine": refine,
}


def stage_inputs(
    stage: str, saved: Mapping[str, Any], n_spots: int, *, num_neigh: int
) -> dict[str, Any]:
    """Return the inputs of ``stage`` restricted to the first ``n_spots`` spots."""
    if stage == "genes":
        return {"load/counts": saved["counts"][:n_spots], "load/genes": saved["genes"]}
    if stage == "graph":
        return {"load/spatial": saved["spatial"][:n_spots]}
    if stage == "edge_probabilities":
        edges = saved["edges"]
        if n_spots < saved["img_emb"].shape[0]:
            edges, _ = graph.knn_graph_edges(saved["spatial"][:n_spots], num_neigh=num_neigh)
        return {"graph/edges": edges, "image_embedding/img_emb": saved["img_emb"][:n_spots]}
    if stage == "pseudo_labels":
        return {"image_embedding/img_emb": saved["img_emb"][:n_spots]}
    return {
        "cluster/domains": saved["labels"][:n_spots],
        "load/spatial": saved["spatial"][:n_spots],
    }


def run_stage_in_child(stage: str, input_dir: str, folder: str, queue: Any) -> None:
    """Time one stage in a fresh process, so its memory peak is its own.

    The process reads only the stage's own inputs. The stage first runs once
    on the first ``WARM_UP_SPOTS`` spots (compiling scanpy's numba kernels),
    then on the whole slice with the RSS tracker on. The peak is the larger of
    the sampled RSS and the kernel's high-water mark (``ru_maxrss``) when the
    latter rose during the stage, which catches peaks shorter than a sample.
    """
    import resource

    import scipy.sparse as sp

    directory = Path(input_dir)
    saved: dict[str, Any] = {}
    for name in STAGE_FILES[stage]:
        if name == "counts":
            saved[name] = sp.load_npz(directory / "counts.npz").tocsr()
        else:
            saved[name] = np.load(directory / f"{name}.npy", allow_pickle=False)
    context = StageContext(
        config=RunConfig(preset="staig"), device="cpu", side="reference", data_dir=Path(folder)
    )
    params = resolve_params(context.config, Path(folder))
    run = STAGE_MODULES[stage].run
    n_spots = next(iter(saved.values())).shape[0]
    if stage == "edge_probabilities":
        n_spots = saved["img_emb"].shape[0]

    num_neigh = int(params["hyper"]["num_neigh"])
    run(stage_inputs(stage, saved, WARM_UP_SPOTS, num_neigh=num_neigh), context, params)
    inputs = stage_inputs(stage, saved, n_spots, num_neigh=num_neigh)
    high_water_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _, seconds, memory = measure(lambda: run(inputs, context, params))
    high_water_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = memory.peak
    if high_water_after > high_water_before:
        peak = max(peak, high_water_after)
    queue.put({"seconds": seconds, "rss_start": memory.start, "rss_peak": peak})


def bench_slice(name: str, folder: Path, work_dir: Path) -> list[Measurement]:
    """Load one slice with the reference's load stage, then time each stage in a child."""
    import multiprocessing
    import scipy.sparse as sp

    context = StageContext(
        config=RunConfig(preset="staig"), device="cpu", side="reference", data_dir=folder
    )
    params = resolve_params(context.config, folder)
    artifacts = load.run({}, context, params)
    n_spots, n_genes = artifacts["counts"].shape
    spatial = artifacts["spatial"]
    edges, _ = graph.knn_graph_edges(spatial, num_neigh=int(params["hyper"]["num_neigh"]))

    input_dir = work_dir / "inputs" / name.replace(" ", "_")
    input_dir.mkdir(parents=True, exist_ok=True)
    sp.save_npz(input_dir / "counts.npz", sp.csr_matrix(artifacts["counts"]))
    arrays = {
        "genes": np.asarray(artifacts["genes"]).astype(str),
        "spatial": spatial,
        "labels": np.asarray(artifacts["labels"]).astype(str),
        "img_emb": np.random.default_rng(0).standard_normal((n_spots, IMG_EMB_DIMS)),
        "edges": edges,
    }
    for key, value in arrays.items():
        np.save(input_dir / f"{key}.npy", value, allow_pickle=False)

    spawn = multiprocessing.get_context("spawn")
    results: list[Measurement] = []
    for stage in STAGE_MODULES:
        queue = spawn.Queue()
        child = spawn.Process(
            target=run_stage_in_child, args=(stage, str(input_dir), str(folder), queue)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            msg = f"the {stage} stage on {name} failed in its child process (exit {child.exitcode})"
            raise RuntimeError(msg)
        record = queue.get(timeout=60)
        results.append(
            Measurement(
                slice=name,
                n_spots=int(n_spots),
                n_genes=int(n_genes),
                stage=stage,
                seconds=record["seconds"],
                rss_start_mib=record["rss_start"] / MIB,
                rss_peak_mib=record["rss_peak"] / MIB,
                rss_increase_mib=(record["rss_peak"] - record["rss_start"]) / MIB,
            )
        )
        logger.info(
            "%s %s: %.2f s, peak RSS %.0f MiB (+%.0f MiB)",
            name,
            stage,
            record["seconds"],
            record["rss_peak"] / MIB,
            (record["rss_peak"] - record["rss_start"]) / MIB,
        )
    return results


def machine_description() -> dict[str, Any]:
    """Return CPU model, core count, memory and software versions of this machine."""
    cpu_model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    import scanpy
    import scipy
    import sklearn
    from importlib.metadata import version

    return {
        "cpu_model": cpu_model,
        "nproc": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "scanpy": version(scanpy.__name__),
    }


def markdown_table(rows: list[Measurement]) -> str:
    """Format the measurements as a Markdown table, one row per slice and stage."""
    lines = [
        "| slice | spots | genes | stage | wall time (s) | peak RSS (MiB) | RSS increase (MiB) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.slice} | {row.n_spots} | {row.n_genes} | {row.stage} | {row.seconds:.2f} "
            f"| {row.rss_peak_mib:.0f} | {row.rss_increase_mib:.0f} |"
        )
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=list(DEFAULT_SIZES),
        help="in-tissue spots of each synthetic slice (default: 5000 20000 50000)",
    )
    parser.add_argument(
        "--dlpfc",
        type=Path,
        default=DEFAULT_DLPFC,
        help=f"Space Ranger folder of DLPFC 151673 (default: {DEFAULT_DLPFC})",
    )
    parser.add_argument(
        "--skip-dlpfc", action="store_true", help="measure only the synthetic slices"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO_ROOT / ".cache" / "bench_reference",
        help="folder for synthetic slices, reused between runs (default: .cache/bench_reference)",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the machine and a Markdown table."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("reference", "harness"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    arguments = parse_arguments(argv)
    arguments.work_dir.mkdir(parents=True, exist_ok=True)

    if not arguments.skip_dlpfc and not arguments.dlpfc.is_dir():
        print(
            f"DLPFC folder not found: {arguments.dlpfc}; pass --dlpfc PATH or --skip-dlpfc",
            file=sys.stderr,
        )
        return 2

    # Other processes on the machine slow every stage; the load average records them.
    load_start = round(os.getloadavg()[0], 2)
    rows: list[Measurement] = []
    if not arguments.skip_dlpfc:
        rows += bench_slice("DLPFC 151673", arguments.dlpfc, arguments.work_dir)
    for n_spots in arguments.sizes:
        folder = synthetic_slice(arguments.work_dir, n_spots)
        rows += bench_slice(f"synthetic {n_spots}", folder, arguments.work_dir)

    machine = machine_description()
    machine["load_average_1min_start"] = load_start
    machine["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(machine, indent=2))
    print(markdown_table(rows))
    if arguments.json is not None:
        record = {
            "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine,
            "stand_ins": {
                "image_embedding/img_emb": "random standard normal (N, 16), seed 0",
                "cluster/domains": "ground-truth layers of the slice",
            },
            "measurements": [asdict(row) for row in rows],
        }
        arguments.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
