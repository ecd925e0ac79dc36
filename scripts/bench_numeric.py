"""Measure the time and peak memory of the element-wise array comparison.

``harness.compare.numeric.compare_arrays`` judges genes/feat, an (N, 3000)
matrix. Each measurement runs in a fresh Python process, so its ``ru_maxrss``
is its own. The inputs are two float32 matrices: a random reference and the
reference plus Gaussian noise (sd 1e-3), so nearly every element differs,
the worst case for the memory the error statistics keep.

    .venv/bin/python scripts/bench_numeric.py --spots 5000 20000 50000

``--numeric FILE`` measures another version of the module (for example
``git show REV:harness/compare/numeric.py > old.py``), so two versions can
be compared in one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_CHILD = """
import importlib.util, json, resource, sys, time
import numpy as np
path, n, genes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if path:
    spec = importlib.util.spec_from_file_location("numeric_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["numeric_under_test"] = module
    spec.loader.exec_module(module)
else:
    import harness.compare.numeric as module
rng = np.random.default_rng(0)
reference = rng.random((n, genes), dtype=np.float32)
candidate = reference + rng.normal(scale=1e-3, size=reference.shape).astype(np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = module.compare_arrays(reference, candidate)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"spots": n, "genes": genes, "status": result.status,
                  "fraction_differing": result.observed, "wall_s": wall,
                  "peak_mib": peak / 1024, "before_mib": before / 1024}))
"""


def measure(numeric: Path | None, spots: int, genes: int) -> dict:
    """Run one comparison in a new process and return its measurements."""
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(numeric or ""), str(spots), str(genes)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a Markdown table row per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spots", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument("--genes", type=int, default=3000)
    parser.add_argument(
        "--numeric", type=Path, action="append", default=[],
        help="another numeric.py to measure beside the installed one; repeatable",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)

    versions: list[Path | None] = [None, *args.numeric]
    rows = []
    print("| version | spots | genes | fraction differing | wall (s) | peak RSS (MiB) | before (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for spots in args.spots:
        for version in versions:
            row = {"version": str(version or "installed"), **measure(version, spots, args.genes)}
            rows.append(row)
            print(
                f"| {row['version']} | {spots} | {args.genes} | {row['fraction_differing']:.4f} "
                f"| {row['wall_s']:.1f} | {row['peak_mib']:.0f} | {row['before_mib']:.0f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
