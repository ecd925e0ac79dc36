"""Named checks of the ``image_features`` stage: the encoder actually used, and the features.

Each side records its encoder in ``image_features/encoder``. The reference
(STAIG) writes ``requested``, ``architecture``, ``parameter_count`` and
``weights`` (``{"path", "sha256"}`` or ``"random init"``) and a ``byol``
section, and always builds the requested encoder. The built-in
candidate writes ``requested``, ``actual``, ``architecture``, ``param_count``
and ``weights``, plus ``stand_in_for`` when the quick preset replaced a
foundation model by a small model. :func:`encoder_identity` reads both forms
and a few common alternatives (``weights_sha256``, ``weights_digest``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.compare.representation import compare_cka
from harness.compare.result import CheckResult
from harness.diff.context import DiffContext, Mode

STAGE = "image_features"

REQUESTED_KEYS = ("requested", "requested_encoder")
ACTUAL_KEYS = ("actual", "actual_encoder", "used")
PARAMETER_KEYS = ("param_count", "parameter_count", "n_parameters")
DIGEST_KEYS = ("weights_sha256", "weights_digest")

# Short names of the foundation models, as their authors write them.
_DISPLAY_NAMES = {"uni": "UNI", "uni2": "UNI2", "uni2-h": "UNI2-h"}

# Features comparisons kept for the image_embedding diagnosis (one per diff, both modes).
_CKA_CACHE_SIZE = 4


@dataclass(frozen=True)
class EncoderIdentity:
    """Identity of the encoder one side ran, read from its encoder record.

    Attributes
    ----------
    requested
        Encoder name the side was requested to run; ``None`` when not recorded.
    used
        Encoder the side's code selected: ``stand_in_for`` when a stand-in ran,
        else ``actual``. For a record without ``actual`` (the reference), the
        requested name. ``None`` when the record names no encoder.
    built
        Model actually built (``actual``; the stand-in under the quick preset).
    architecture
        Architecture in words, as recorded.
    param_count
        Number of parameters of the built model.
    weights
        SHA-256 of the weights file, or ``"random init"``; ``None`` when not recorded.
    training
        ``"BYOL"`` when the record has a BYOL section, else ``""``.
    stand_in
        Whether ``built`` is a stand-in for ``used``.
    """

    requested: str | None
    used: str | None
    built: str | None
    architecture: str | None
    param_count: int | None
    weights: str | None
    training: str
    stand_in: bool

    def label(self) -> str:
        """Return a short label, e.g. ``"BYOL resnet50"`` or ``"uni via its stand-in X"``."""
        name = self.used or "unknown encoder"
        if self.stand_in:
            name = f"{name} via its stand-in {self.built}"
        return f"{self.training} {name}" if self.training else name

    def describe_built(self) -> str:
        """Return e.g. ``"ViT-L/16, 303M parameters"`` for the model that ran."""
        parts = []
        if self.architecture:
            parts.append(_short_architecture(self.architecture))
        if self.param_count is not None:
            parts.append(f"{_format_count(self.param_count)} parameters")
        return ", ".join(parts)


def encoder_identity(record: Mapping[str, Any]) -> EncoderIdentity:
    """Read an ``image_features/encoder`` record of either side.

    Parameters
    ----------
    record
        The JSON object the side wrote.

    Returns
    -------
    EncoderIdentity
    """
    requested = _first(record, REQUESTED_KEYS)
    actual = _first(record, ACTUAL_KEYS)
    stand_in_for = record.get("stand_in_for")
    if stand_in_for is not None:
        used = str(stand_in_for)
    elif actual is not None:
        used = str(actual)
    elif requested is not None and "byol" in record:
        # The reference records no "actual": it always builds the requested ResNet.
        used = str(requested)
    else:
        used = None
    parameters = _first(record, PARAMETER_KEYS)
    return EncoderIdentity(
        requested=str(requested) if requested is not None else None,
        used=used,
        built=str(actual) if actual is not None else used,
        architecture=str(record["architecture"])
        if record.get("architecture") is not None
        else None,
        param_count=int(parameters) if isinstance(parameters, int | float) else None,
        weights=_weights_digest(record),
        training="BYOL" if "byol" in record else "",
        stand_in=stand_in_for is not None,
    )


# -- image_features.encoder ---------------------------------------------------


def check_encoder(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Check that the candidate ran the encoder that was requested.

    Judged by equality of the requested and the used encoder name (metric
    ``encoder``); the reference's identity is in the details. A record that
    lacks either name gives status ``"error"`` because the choice cannot be verified.
    """
    labels = {"check_id": "image_features.encoder", "stage": STAGE, "artifact": "encoder"}
    candidate_record = context.cand(STAGE, "encoder", mode=mode)
    reference_record = context.ref_or_none(STAGE, "encoder") or {}
    candidate = encoder_identity(candidate_record)
    reference = encoder_identity(reference_record)
    details = {
        "candidate": dataclasses.asdict(candidate),
        "reference": dataclasses.asdict(reference),
    }
    if candidate.requested is None or candidate.used is None:
        return [
            CheckResult.errored(
                **labels,
                metric="encoder",
                details=details,
                reason=(
                    "the candidate's encoder record does not name the requested and the used "
                    f"encoder (expected keys {REQUESTED_KEYS[0]!r} and {ACTUAL_KEYS[0]!r}); it "
                    f"has {sorted(candidate_record)}"
                ),
            )
        ]

    result = CheckResult.compared_equal(
        **labels,
        metric="encoder",
        observed=candidate.used,
        expected=candidate.requested,
        context=(
            f"candidate requested {candidate.requested!r}, used {candidate.used!r}"
            + (f" (built {candidate.built!r} in its place)" if candidate.stand_in else "")
            + f"; reference {reference.label()}"
        ),
        details=details,
    )
    if result.passed:
        return [result]
    return [dataclasses.replace(result, diagnosis=_explain_substitution(candidate))]


check_encoder.check_id = "image_features.encoder"


def _explain_substitution(identity: EncoderIdentity) -> str:
    requested = _display(identity.requested)
    used = _display(identity.used)
    built = identity.describe_built()
    if identity.stand_in:
        return (
            f"{requested} was requested but {used} was selected; {identity.built} "
            f"({built}) ran in its place as the quick preset's stand-in"
        )
    return (
        f"{requested} was requested but {used} ({built}) was used"
        if built
        else (f"{requested} was requested but {used} was used")
    )


# -- image_features.features --------------------------------------------------


def check_features(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the features by linear CKA (the widths may differ) and name both encoders.

    Metric ``linear_cka`` over spots aligned by barcode, judged against
    ``image_features.features:cka``.
    """
    result = features_cka(context, mode).rejudge(
        context.threshold("image_features.features", "cka")
    )
    if result.status != "fail":
        return [result]
    reference = encoder_identity(context.ref_or_none(STAGE, "encoder") or {})
    candidate = encoder_identity(context.cand_or_none(STAGE, "encoder", mode=mode) or {})
    width_reference = result.details.get("width_reference")
    width_candidate = result.details.get("width_candidate")
    same_encoder = (
        reference.built is not None
        and reference.built == candidate.built
        and reference.architecture == candidate.architecture
    )
    if not same_encoder:
        diagnosis = (
            f"reference {reference.label()} ({width_reference}-d) vs candidate {candidate.label()} "
            f"({width_candidate}-d): the sides use different encoders, so their features are not "
            "expected to agree"
        )
    elif reference.weights != candidate.weights:
        diagnosis = (
            f"both sides use {candidate.label()} but with different weights (reference "
            f"{_short_digest(reference.weights)}, candidate {_short_digest(candidate.weights)})"
        )
    else:
        diagnosis = (
            f"both sides use {candidate.label()} with the same weights, yet the features differ: "
            "compare the input windows (patch_filter.filtered) and the encoders' input size and "
            "normalisation"
        )
    return [dataclasses.replace(result, diagnosis=diagnosis)]


check_features.check_id = "image_features.features"


@dataclass(frozen=True)
class _PairKey:
    """Cache key of a comparison: the digests of everything it reads."""

    digests: tuple[str, ...]
    load: Callable[[], tuple[Any, Any]] = field(compare=False, hash=False, repr=False)


def features_cka(context: DiffContext, mode: Mode) -> CheckResult:
    """Return the CKA comparison of ``image_features/features``, computed once per content.

    The result is judged against :data:`harness.compare.representation.DEFAULT_MIN_CKA`;
    callers :meth:`~harness.compare.result.CheckResult.rejudge` it against their threshold.
    """
    digests = (
        mode,
        context.reference[STAGE].artifacts["features"].sha256,
        (context.isolated if mode == "isolated" else context.candidate)[STAGE]
        .artifacts["features"]
        .sha256,
        context.reference["load"].artifacts["barcodes"].sha256,
        context.candidate["load"].artifacts["barcodes"].sha256,
    )
    return _cached_cka(_PairKey(digests, lambda: context.pair(STAGE, "features", mode=mode)))


@functools.lru_cache(maxsize=_CKA_CACHE_SIZE)
def _cached_cka(key: _PairKey) -> CheckResult:
    reference, candidate = key.load()
    return compare_cka(
        reference, candidate, check_id="image_features.features", stage=STAGE, artifact="features"
    )


# -- helpers ------------------------------------------------------------------


def _first(record: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if record.get(key) is not None:
            return record[key]
    return None


def _weights_digest(record: Mapping[str, Any]) -> str | None:
    digest = _first(record, DIGEST_KEYS)
    if digest is not None:
        return str(digest)
    weights = record.get("weights")
    if isinstance(weights, Mapping):
        value = weights.get("sha256", weights.get("digest"))
        return str(value) if value is not None else None
    return str(weights) if weights is not None else None


def _display(name: str | None) -> str:
    if name is None:
        return "an unnamed encoder"
    return _DISPLAY_NAMES.get(name.lower(), name)


def _short_architecture(text: str) -> str:
    """Return the leading part of an architecture description, e.g. ``"ViT-L/16"``."""
    for separator in (" (", ","):
        if separator in text:
            text = text.split(separator, 1)[0]
    return text.strip()


def _format_count(count: int) -> str:
    if count >= 1_000_000_000:
        return f"{count / 1e9:.3g}B"
    if count >= 1_000_000:
        return f"{count / 1e6:.3g}M"
    if count >= 1_000:
        return f"{count / 1e3:.3g}k"
    return str(count)


def _short_digest(digest: str | None) -> str:
    if digest is None:
        return "not recorded"
    if digest == "random init":
        return digest
    return f"sha256 {digest[:12]}…"


DIAGNOSES = [check_encoder, check_features]
