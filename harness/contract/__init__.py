"""The stage contract shared by every side: stages, artifacts and their validation."""

from harness.contract.stages import (
    STAGE_NAMES,
    STAGES,
    ArtifactSpec,
    StageSpec,
    downstream_of,
    get_stage,
    stages_until,
    upstream_closure,
)
from harness.contract.validate import validate_outputs

__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "ArtifactSpec",
    "StageSpec",
    "downstream_of",
    "get_stage",
    "stages_until",
    "upstream_closure",
    "validate_outputs",
]
