"""Encoder selection: the profile's choice, then the quick preset's stand-in."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from candidate.config import Profile
from candidate.encoders.registry import ENCODERS, EncoderSpec, get_encoder
from harness.errors import InputError

logger = logging.getLogger(__name__)

FOUNDATION_MODELS = ("uni", "uni2")


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder requested, the one the profile selected and the one built.

    Attributes
    ----------
    requested
        Name from the run options.
    selected
        Name the profile's code path selected.
    spec
        The encoder actually built.
    stand_in_for
        ``selected`` when the quick preset builds a small model in its place, else ``None``.
    """

    requested: str
    selected: str
    spec: EncoderSpec
    stand_in_for: str | None


def choose_encoder(
    requested: str, *, profile: Profile, quick_stand_in: str | None
) -> EncoderChoice:
    """Resolve the requested encoder name to the model a run builds.

    The strict profile uses UNI for any foundation-model request, UNI2
    included, and reports it only in a log line. The legacy profile builds what
    was requested. Under the quick preset a foundation model is replaced by
    ``quick_stand_in``.

    Raises
    ------
    InputError
        When ``requested`` is not a known encoder.
    """
    if requested not in ENCODERS:
        msg = (
            f"unknown image encoder {requested!r} (option `encoder`); known encoders: "
            f"{', '.join(ENCODERS)}"
        )
        raise InputError(msg)
    selected = requested
    if profile == "strict" and requested in FOUNDATION_MODELS:
        selected = "uni"
        logger.info("staig_fusion strict encodes patches with UNI")

    stand_in_for = None
    spec = get_encoder(selected)
    if quick_stand_in is not None and selected in FOUNDATION_MODELS:
        stand_in_for = selected
        spec = get_encoder(quick_stand_in)
        logger.info("quick preset: %s replaces %s", spec.name, selected)
    return EncoderChoice(
        requested=requested, selected=selected, spec=spec, stand_in_for=stand_in_for
    )
