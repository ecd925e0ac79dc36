"""Provenance of a stage run: package versions, git commit, device, time and memory."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

TRACKED_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "anndata",
    "scanpy",
    "scikit-learn",
    "scikit-misc",
    "torch",
    "torchvision",
    "torch-geometric",
    "timm",
    "byol-pytorch",
    "rpy2",
    "opencv-python-headless",
)


@functools.cache
def package_versions() -> dict[str, str | None]:
    """Return the installed version of each tracked package (``None`` when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.cache
def git_commit(path: Path | None = None) -> dict[str, Any]:
    """Return the commit and dirty flag of the git checkout holding ``path``.

    ``{"commit": None}`` when the code does not run from a git checkout.
    """
    folder = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def host_description() -> dict[str, Any]:
    """Return the machine: platform, processor count and total memory in bytes."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": psutil.cpu_count(logical=True),
        "memory_bytes": psutil.virtual_memory().total,
        "python_executable": sys.executable,
    }


class ResourceMonitor:
    """Measure wall time and peak resident memory of a block of code.

    A background thread samples the process's resident set size every
    ``interval_s`` seconds (default 0.02 s), so allocations that live shorter
    than that can be missed. CUDA peak memory is read from torch when the
    block ran on a GPU.

    Examples
    --------
    >>> with ResourceMonitor() as monitor:
    ...     _ = bytearray(10_000_000)
    >>> monitor.wall_s >= 0
    True
    """

    def __init__(self, *, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.wall_s = 0.0
        self.peak_rss_bytes = 0
        self.start_rss_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def __enter__(self) -> ResourceMonitor:
        self.start_rss_bytes = self._process.memory_info().rss
        self.peak_rss_bytes = self.start_rss_bytes
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall_s = time.perf_counter() - self._start
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._record()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._record()

    def _record(self) -> None:
        rss = self._process.memory_info().rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)

    def as_dict(self) -> dict[str, Any]:
        """Return the measurements for a manifest."""
        result: dict[str, Any] = {
            "wall_s": round(self.wall_s, 4),
            "peak_rss_bytes": self.peak_rss_bytes,
            "rss_increase_bytes": self.peak_rss_bytes - self.start_rss_bytes,
        }
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            result["cuda_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        return result


@functools.cache
def _file_digest_cached(path: str, size: int, mtime_ns: int) -> str:
    from harness.artifacts.io import sha256_file

    return sha256_file(Path(path))


def folder_digest(folder: Path, *, extra_files: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Return the SHA-256 of every file in ``folder`` (recursively) and a combined digest.

    Results are memoised per process by (path, size, modification time), so a
    large full-resolution TIFF is hashed once per process.
    """
    import hashlib

    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    files.extend(Path(extra) for extra in extra_files)
    entries: dict[str, str] = {}
    for path in files:
        stat = path.stat()
        key = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
        entries[key] = _file_digest_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    combined = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in entries.items()).encode())
    return {"sha256": combined.hexdigest(), "files": entries}
