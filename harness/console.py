"""Terminal output: rich logging and progress, and plain output for tests and CI."""

from __future__ import annotations

import logging
import os
import sys

from rich.console import Console
from rich.logging import RichHandler


def make_console(*, plain: bool | None = None, width: int | None = None) -> Console:
    """Return the console for user-facing output.

    ``plain`` (default: when standard output is not a terminal or ``NO_COLOR``
    is set) turns off colour and markup styling, which keeps output stable
    for snapshot tests and CI logs.
    """
    if plain is None:
        plain = not sys.stdout.isatty() or "NO_COLOR" in os.environ
    if width is None and not sys.stdout.isatty():
        # A pipe or a CI log has no width; rich would assume 80 columns and
        # squeeze the diagnosis column to a few characters.
        width = int(os.environ.get("COLUMNS", "160"))
    return Console(
        width=width,
        no_color=plain,
        highlight=not plain,
        soft_wrap=False,
        force_terminal=None if not plain else False,
    )


PLAIN_LOG_FORMAT = "[%(asctime)s] %(levelname)-7s %(message)s"
"""Format of log records when standard error is not a terminal."""


class _CurrentStderrHandler(logging.StreamHandler):
    """Write each record to ``sys.stderr`` as it is at that moment (test runners swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """Ignore the stream ``StreamHandler.__init__`` sets."""


def setup_logging(*, verbose: int = 0) -> None:
    """Route the ``harness``, ``reference`` and ``candidate`` loggers to stderr through rich.

    ``verbose`` 0 shows INFO and above, 1 or more shows DEBUG.
    """
    level = logging.DEBUG if verbose > 0 else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(
            console=Console(stderr=True),
            show_path=False,
            rich_tracebacks=False,
            markup=False,
            log_time_format="[%X]",
        )
    else:
        # A CI log, a job log or a pipe: one line per record, so that paths
        # and messages stay whole for copying and grep.
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_LOG_FORMAT, datefmt="%H:%M:%S"))
    handler.setLevel(level)
    for name in ("harness", "reference", "candidate"):
        named = logging.getLogger(name)
        named.setLevel(level)
        named.handlers[:] = [handler]
        named.propagate = False
