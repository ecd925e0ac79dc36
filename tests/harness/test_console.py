"""Log output of the commands when standard error is a pipe or a file."""

from __future__ import annotations

import logging
import re

from harness.console import setup_logging


def test_piped_log_one_line_per_record(capsys) -> None:
    path = "/runs/cache/151673-26e7066c/" + "candidate-legacy-5219b053d0/" * 6 + "train"
    setup_logging()

    logging.getLogger("harness.runner").info("candidate: train reused from cache (%s)", path)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(rf"\[\d\d:\d\d:\d\d\] INFO    candidate: train reused from cache \({path}\)",
                        lines[0])


def test_piped_log_debug_level(capsys) -> None:
    setup_logging(verbose=1)
    logging.getLogger("reference.stages").debug("window side 23 px")
    setup_logging(verbose=0)
    logging.getLogger("reference.stages").debug("hidden")

    err = capsys.readouterr().err
    assert "DEBUG   window side 23 px" in err
    assert "hidden" not in err
