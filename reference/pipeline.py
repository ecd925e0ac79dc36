"""STAIG, re-implemented stage by stage behind the harness's stage contract.

Each stage lives in ``reference/stages/<stage>.py`` as a function
``run(inputs, context, params) -> dict`` where ``params`` is the output of
:func:`reference.config.resolve_params`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from harness.contract.stages import STAGE_NAMES
from harness.implementation import StageContext, StagewiseImplementation
from reference.config import resolve_params


class StaigReference(StagewiseImplementation):
    """The STAIG reference pipeline (single slice, image mode)."""

    name = "staig-reference"
    version = "1"
    seeded_stages = ("train",)
    """Stages that read ``RunConfig.seed``: only training; BYOL (42), KMeans (0) and
    mclust (2023) use STAIG's fixed seeds."""

    def provided_stages(self) -> list[str]:
        """Return every stage that has a module under ``reference/stages``."""
        return [stage for stage in STAGE_NAMES if importlib.util.find_spec(f"reference.stages.{stage}")]

    def run_stage(
        self, stage: str, inputs: Mapping[str, Any], context: StageContext
    ) -> Mapping[str, Any]:
        """Run ``reference.stages.<stage>.run`` with the resolved parameters."""
        if stage not in self.provided_stages():
            msg = f"the reference does not implement stage {stage!r}"
            raise NotImplementedError(msg)
        params = resolve_params(context.config, context.data_dir)
        module = importlib.import_module(f"reference.stages.{stage}")
        return module.run(inputs, context, params)
