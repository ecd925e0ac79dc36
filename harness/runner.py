"""Run one side stage by stage through the artifact store, reusing cached stages.

A stage is reused when its stored manifest carries the same cache key, which
is the SHA-256 of: the implementation's identity (including a digest of its
source), the stage name, the run configuration's digest, the digests of the
input artifacts, and, for stages that read the Space Ranger folder, the
digest of that folder's files.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.io import dumps_json
from harness.artifacts.store import RunStore, StageRecord
from harness.config import RunConfig, resolve_device
from harness.contract.stages import STAGE_NAMES, StageSpec, get_stage
from harness.contract.validate import bind_shape, validate_outputs
from harness.errors import InputError
from harness.implementation import Implementation, StageContext
from harness.provenance import (
    ResourceMonitor,
    folder_digest,
    git_commit,
    host_description,
    package_versions,
)

logger = logging.getLogger(__name__)


@dataclass
class SideRun:
    """The outcome of running one side: a verified record per stage."""

    side: str
    store: RunStore
    records: dict[str, StageRecord] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    not_provided: list[str] = field(default_factory=list)


def run_side(
    implementation: Implementation,
    *,
    side: str,
    out_dir: Path,
    config: RunConfig,
    stages: Sequence[str],
    data_dir: Path | None,
    inputs_from: Mapping[str, StageRecord] | None = None,
    force: bool = False,
    verify: bool = True,
) -> SideRun:
    """Compute (or load from cache) ``stages`` of ``implementation`` into ``out_dir``.

    Parameters
    ----------
    implementation
        The side's pipeline.
    side
        ``"reference"`` or ``"candidate"``; recorded in manifests.
    out_dir
        The side's run folder.
    config
        The run configuration.
    stages
        Stage names to compute, in any order; they run in pipeline order.
        Every stage they read from must be among them, already stored in
        ``out_dir`` or given in ``inputs_from``.
    data_dir
        The Space Ranger folder.
    inputs_from
        Stage name to a record from another run whose artifacts replace this
        side's own outputs of that stage as inputs (cross-feeding).
    force
        Recompute even when a valid cached stage exists.
    verify
        Re-hash a cached stage's files before reusing it. ``False`` trusts the
        manifest digests; only for folders this process's caller has just
        verified or written.

    Raises
    ------
    InputError
        When a stage's input is neither computed, stored nor supplied.
    """
    store = RunStore(out_dir)
    device = resolve_device(config.device)
    context = StageContext(config=config, device=device, side=side, data_dir=data_dir)
    result = SideRun(side=side, store=store)
    inputs_from = dict(inputs_from or {})
    provided = set(implementation.provided_stages())
    identity = dict(implementation.identity())
    dims: dict[str, int] = {}
    data_identity: dict[str, Any] | None = None

    store.write_run_fields(
        {
            "side": side,
            "implementation": identity,
            "data_dir": str(data_dir) if data_dir else None,
            "run_config": config.to_dict(),
            "run_config_sha256": config.digest(),
        }
    )
    ordered = [name for name in STAGE_NAMES if name in set(stages)]
    for name in ordered:
        spec = get_stage(name)
        if name not in provided:
            result.not_provided.append(name)
            logger.info("%s: stage %s is not provided by %s", side, name, implementation.name)
            continue
        reads_inputs = getattr(implementation, "reads_inputs", True)
        inputs_records = (
            _input_records(spec, result.records, store, inputs_from, side=side) if reads_inputs else {}
        )
        input_digests = {
            read: inputs_records[read.split("/", 1)[0]].artifacts[read.split("/", 1)[1]].sha256
            for read in spec.reads
            if read.split("/", 1)[0] in inputs_records
            and read.split("/", 1)[1] in inputs_records[read.split("/", 1)[0]].artifacts
        }
        if spec.needs_data_folder and data_identity is None:
            data_identity = _data_identity(data_dir, config)
        key = _cache_key(identity, spec, config, input_digests, data_identity if spec.needs_data_folder else None)

        cached = None if force else store.read_stage(name, verify=verify)
        if cached is not None and cached.cache_key == key:
            _bind_dims(spec, cached, dims)
            result.records[name] = cached
            result.reused.append(name)
            logger.info("%s: %s reused from cache (%s)", side, name, cached.folder)
            continue
        if cached is not None:
            logger.info("%s: %s cache is stale (inputs, code or configuration changed), recomputing", side, name)

        inputs = _load_inputs(spec, inputs_records) if reads_inputs else {}
        logger.info("%s: %s started", side, name)
        with ResourceMonitor() as monitor:
            outputs = implementation.run_stage(name, inputs, context)
        checked = validate_outputs(
            spec, outputs, dims, allow_missing=getattr(implementation, "partial_artifacts", False)
        )
        kinds = {art.name: art.kind for art in spec.writes if art.name in checked}
        provenance = {
            "side": side,
            "cache_key": key,
            "implementation": identity,
            "run_config": config.to_dict(),
            "run_config_sha256": config.digest(),
            "inputs": input_digests,
            "inputs_from": {stage: str(record.folder) for stage, record in inputs_from.items()
                            if any(read.startswith(f"{stage}/") for read in spec.reads)},
            "data": data_identity["sha256"] if spec.needs_data_folder and data_identity else None,
            "device": device,
            "seed": config.seed,
            "packages": package_versions(),
            "git": git_commit(),
            "host": host_description(),
            "resources": monitor.as_dict(),
        }
        record = store.write_stage(name, checked, kinds=kinds, provenance=provenance)
        result.records[name] = record
        result.computed.append(name)
        logger.info("%s: %s finished in %.2f s", side, name, monitor.wall_s)
    return result


def _input_records(
    spec: StageSpec,
    computed: Mapping[str, StageRecord],
    store: RunStore,
    inputs_from: Mapping[str, StageRecord],
    *,
    side: str,
) -> dict[str, StageRecord]:
    records: dict[str, StageRecord] = {}
    for read in spec.reads:
        stage, artifact = read.split("/", 1)
        if stage in records:
            continue
        record = inputs_from.get(stage) or computed.get(stage) or store.read_stage(stage)
        if record is None:
            msg = (
                f"{side}: stage {spec.name!r} reads {read!r}, but stage {stage!r} was neither run "
                f"nor found in {store.root}; run it first (e.g. --until {spec.name})"
            )
            raise InputError(msg)
        records[stage] = record
    return records


def _load_inputs(spec: StageSpec, records: Mapping[str, StageRecord]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for read in spec.reads:
        stage, artifact = read.split("/", 1)
        record = records[stage]
        if artifact in record.artifacts:
            inputs[read] = record.load(artifact)
        elif not get_stage(stage).artifact(artifact).optional:
            msg = f"stage {spec.name!r} reads {read!r}, which {record.folder} does not contain"
            raise InputError(msg)
    return inputs


def _bind_dims(spec: StageSpec, record: StageRecord, dims: dict[str, int]) -> None:
    for artifact in spec.writes:
        stored = record.artifacts.get(artifact.name)
        if stored is not None and stored.shape is not None:
            bind_shape(artifact, stored.shape, dims, where=f"{spec.name}/{artifact.name}")


def _data_identity(data_dir: Path | None, config: RunConfig) -> dict[str, Any] | None:
    if data_dir is None:
        return None
    extra = (Path(config.fullres_image),) if config.fullres_image else ()
    return folder_digest(Path(data_dir), extra_files=extra)


def _cache_key(
    identity: Mapping[str, Any],
    spec: StageSpec,
    config: RunConfig,
    input_digests: Mapping[str, str],
    data_identity: Mapping[str, Any] | None,
) -> str:
    payload = {
        "implementation": identity,
        "stage": spec.name,
        "config": config.digest(),
        "inputs": dict(input_digests),
        "data": data_identity["sha256"] if data_identity else None,
    }
    return hashlib.sha256(dumps_json(payload).encode()).hexdigest()
