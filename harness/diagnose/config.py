"""Cross-stage check ``config.hyperparameters``: the settings each side records it used.

Every stage writes a ``config`` artifact. For each stage that both sides
stored, the recognised settings are mapped to STAIG's names
(:mod:`harness.diagnose.vocabulary`) and compared with DeepDiff
(:func:`harness.compare.configs.compare_configs`). Settings that only one
side records are listed but do not fail the check: a side may simply not
write them down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.compare.configs import compare_configs
from harness.compare.result import CheckResult
from harness.contract.stages import STAGE_NAMES
from harness.diagnose._support import format_value, with_diagnosis
from harness.diagnose.vocabulary import ConfigEntry, canonical_hyperparameters
from harness.diff.context import DiffContext, Mode

CHECK_ID = "config.hyperparameters"


@dataclass(frozen=True)
class Difference:
    """One setting whose value differs between the sides.

    Attributes
    ----------
    name
        Canonical name, with ``[i]`` for an element of a list setting.
    reference, candidate
        The two values.
    stages
        Stages whose configs record this difference.
    reference_source, candidate_source
        Where each side records it (key paths in the first such stage's config).
    """

    name: str
    reference: Any
    candidate: Any
    stages: tuple[str, ...]
    reference_source: str
    candidate_source: str

    def line(self) -> str:
        """Return ``"tau: reference 35, candidate 30 (train: hyper.tau vs temperature)"``."""
        return (
            f"{self.name}: reference {format_value(self.reference)}, candidate "
            f"{format_value(self.candidate)} ({', '.join(self.stages)}: "
            f"{self.reference_source} vs {self.candidate_source})"
        )

    def phrase(self) -> str:
        """Return ``"tau (reference 35, candidate 30)"`` for the one-sentence diagnosis."""
        return (
            f"{self.name} (reference {format_value(self.reference)}, candidate "
            f"{format_value(self.candidate)})"
        )


def check_hyperparameters(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the canonical settings of every stage config both sides stored."""
    labels = {"check_id": CHECK_ID, "stage": "config", "artifact": "config"}
    threshold = context.threshold(CHECK_ID, "differing_keys")
    stages = [
        stage for stage in _ordered(set(context.reference) & set(context.candidate))
        if "config" in context.reference[stage].artifacts
        and "config" in context.candidate[stage].artifacts
    ]
    if not stages:
        return [CheckResult.skipped(
            **labels, metric="differing_keys",
            reason="no stage has a config artifact on both sides",
        )]

    differences: dict[tuple[str, str, str], Difference] = {}
    compared: set[str] = set()
    only: dict[str, dict[str, list[str]]] = {"reference": {}, "candidate": {}}
    for stage in stages:
        reference = _canonical(context.ref(stage, "config"), stage=stage)
        candidate = _canonical(context.cand(stage, "config"), stage=stage)
        common = [name for name in reference if name in candidate]
        compared.update(common)
        for side, own, other in (("reference", reference, candidate),
                                 ("candidate", candidate, reference)):
            for name in own:
                if name not in other:
                    only[side].setdefault(name, []).append(stage)
        for difference in _stage_differences(reference, candidate, common, stage=stage):
            key = (difference.name, repr(difference.reference), repr(difference.candidate))
            if key in differences:
                previous = differences[key]
                differences[key] = Difference(
                    previous.name, previous.reference, previous.candidate,
                    previous.stages + (stage,), previous.reference_source,
                    previous.candidate_source,
                )
            else:
                differences[key] = difference

    listed = list(differences.values())
    one_sided = {
        side: {name: stages_ for name, stages_ in names.items() if name not in compared}
        for side, names in only.items()
    }
    result = CheckResult.judged(
        **labels, metric="differing_keys", observed=len(listed), threshold=threshold,
        context=(
            f"{len(compared)} settings compared over {len(stages)} stage configs; "
            f"{len(listed)} differ"
        ),
        evidence=[
            {"key": item.name, "reference": item.reference, "candidate": item.candidate,
             "stages": ", ".join(item.stages), "reference_name": item.reference_source,
             "candidate_name": item.candidate_source}
            for item in listed
        ],
        details={
            "differences": [item.line() for item in listed],
            "stages": stages,
            "compared": sorted(compared),
            "only_reference": one_sided["reference"],
            "only_candidate": one_sided["candidate"],
        },
    )
    if not listed:
        return [result]
    noun = "hyperparameter" if len(listed) == 1 else "hyperparameters"
    phrases = [item.phrase() for item in listed]
    enumeration = phrases[0] if len(phrases) == 1 else (
        ", ".join(phrases[:-1]) + " and " + phrases[-1]
    )
    return [with_diagnosis(
        result, f"the sides differ in {len(listed)} {noun}: {enumeration}"
    )]


check_hyperparameters.check_id = CHECK_ID


def _canonical(config: Any, *, stage: str) -> dict[str, ConfigEntry]:
    if not isinstance(config, Mapping):
        return {}
    return canonical_hyperparameters(config, stage=stage)


def _stage_differences(
    reference: Mapping[str, ConfigEntry],
    candidate: Mapping[str, ConfigEntry],
    common: list[str],
    *,
    stage: str,
) -> list[Difference]:
    """Compare the common canonical settings of one stage with DeepDiff."""
    if not common:
        return []
    result = compare_configs(
        {name: reference[name].value for name in common},
        {name: candidate[name].value for name in common},
        ignore_numeric_type_changes=True,
        check_id=CHECK_ID, stage=stage,
    )
    differences = []
    for row in result.evidence:
        root = row["key"].split("[", 1)[0].split(".", 1)[0]
        differences.append(Difference(
            name=row["key"],
            reference=row["reference"],
            candidate=row["candidate"],
            stages=(stage,),
            reference_source=reference[root].source,
            candidate_source=candidate[root].source,
        ))
    return differences


def _ordered(stages: set[str]) -> list[str]:
    order = {name: index for index, name in enumerate(STAGE_NAMES)}
    return sorted(stages, key=lambda name: (order.get(name, len(order)), name))


DIAGNOSES = [check_hyperparameters]
