"""Declared divergences: waivers that turn matching failures into ``waived``.

A waiver names a check id or a shell-style pattern (``image_features.*``)
and the reason the divergence is intended. Waivers come from the
candidate's own declaration (an implementation's ``declared_waivers``), the
``[tool.harness]`` table of a ``pyproject.toml``, and ``--waive`` options.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import InputError


@dataclass(frozen=True)
class Waiver:
    """One declared divergence.

    Attributes
    ----------
    check
        Check id or ``fnmatch`` pattern, e.g. ``"image_features.features"``.
    reason
        Why the divergence is intended; shown in every report.
    source
        Where the waiver was declared: ``candidate``, ``pyproject`` or ``command line``.
    """

    check: str
    reason: str
    source: str = "command line"

    def matches(self, check_id: str) -> bool:
        """Return whether this waiver covers ``check_id``."""
        return fnmatch.fnmatchcase(check_id, self.check)

    def to_json(self) -> dict[str, str]:
        """Return the waiver as a JSON object."""
        return {"check": self.check, "reason": self.reason, "source": self.source}


def parse_waiver(text: str) -> Waiver:
    """Parse ``CHECK=REASON`` from the command line."""
    check, sep, reason = text.partition("=")
    if not sep or not check.strip() or not reason.strip():
        msg = (
            f"--waive {text!r}: expected CHECK=REASON, e.g. "
            "--waive 'image_features.features=UNI replaces BYOL on purpose'"
        )
        raise InputError(msg)
    return Waiver(check.strip(), reason.strip(), "command line")


def waivers_from_records(records: Iterable[Mapping[str, Any]], *, source: str) -> list[Waiver]:
    """Build waivers from ``{"check": ..., "reason": ...}`` records."""
    waivers = []
    for record in records:
        if not isinstance(record, Mapping) or "check" not in record or "reason" not in record:
            msg = f"waiver {record!r} from {source}: each waiver needs 'check' and 'reason'"
            raise InputError(msg)
        waivers.append(Waiver(str(record["check"]), str(record["reason"]), source))
    return waivers


def find_waiver(waivers: Iterable[Waiver], check_id: str) -> Waiver | None:
    """Return the first waiver covering ``check_id``, or ``None``."""
    for waiver in waivers:
        if waiver.matches(check_id):
            return waiver
    return None
