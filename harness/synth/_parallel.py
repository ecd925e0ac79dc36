"""Ordered, bounded parallel map for the generator's independent work items."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Default thread count: numpy's random generators, its large array operations
# and OpenCV release the GIL, so threads scale up to a few cores.
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """Return ``min(MAX_DEFAULT_WORKERS, os.cpu_count())``."""
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], *, workers: int
) -> Iterator[Result]:
    """Yield ``function(item)`` for each item, in input order, using ``workers`` threads.

    At most ``2 * workers`` results are pending at once, so memory stays
    bounded however many items there are. With ``workers == 1`` everything
    runs in the calling thread. Results never depend on ``workers`` as long as
    ``function`` is a pure function of its item.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    pending: deque[Future[Result]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth") as pool:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
