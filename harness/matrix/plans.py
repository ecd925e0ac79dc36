"""Run folders of one side at several seeds, and hybrid pipelines that swap one stage.

The seed of a run (:attr:`harness.config.RunConfig.seed`) reaches only the
stages an implementation declares in ``seeded_stages`` (STAIG and
staig_fusion: ``train``; BYOL, KMeans and mclust use fixed seeds). Those
stages and everything downstream of them are the *seeded closure*. A run at
seed ``s`` computes only its seeded closure into its own folder and reads
every other stage from the side's base run, so the image stages of a slice
are computed once for all seeds. An implementation that declares nothing is
assumed to use the seed everywhere.

A hybrid pipeline swaps one stage X between the sides. The donor side runs
its own implementation of X on the receiving side's inputs, and the
receiving side runs everything downstream of X on that output. Swapping the
stage's code, not its stored output, credits X with its own divergence only:
the reference's stored output of a late stage such as ``train`` would carry
every upstream divergence with it.

Where the sides store square images of different sizes for a stage (512 px
patches against 224 px ones), each crossing of that stage between the sides
goes through an :class:`~harness.matrix.adapters.Adapt` step that resizes
them to the consuming side's own size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES, downstream_of, get_stage
from harness.implementation import Implementation
from harness.matrix.adapters import Adapt
from harness.matrix.jobs import Step


def seeded_closure(implementation: Implementation) -> frozenset[str]:
    """Return the stages whose output depends on the run's seed, directly or through inputs."""
    declared = getattr(implementation, "seeded_stages", None)
    seeded = set(STAGE_NAMES) if declared is None else set(declared)
    closure = set(seeded)
    for stage in seeded:
        closure.update(spec.name for spec in downstream_of(stage))
    return frozenset(closure)


@dataclass(frozen=True)
class SidePlan:
    """Run folders of one side on one slice, at its base seed and at other seeds.

    Attributes
    ----------
    implementation
        ``"reference"`` or a ``--candidate`` value.
    side
        ``"reference"`` or ``"candidate"``.
    config
        The base run configuration (candidate options included).
    data_dir
        The Space Ranger folder.
    root
        The base run folder (the same one ``harness diff`` uses).
    seeded
        The seeded closure of the implementation.
    provided
        Stages the implementation provides.
    fallback
        The plan whose stages feed the stages this side does not provide
        (the reference's, for a candidate that implements only some stages).
    source_sha256
        Digest of the implementation's package source in the planning
        process; each job checks that its worker loaded the same code.
    """

    implementation: str
    side: str
    config: RunConfig
    data_dir: Path
    root: Path
    seeded: frozenset[str]
    provided: frozenset[str]
    fallback: SidePlan | None = None
    source_sha256: str | None = None

    @classmethod
    def of(
        cls,
        implementation: Implementation,
        *,
        spec: str,
        side: str,
        config: RunConfig,
        data_dir: Path,
        root: Path,
        fallback: SidePlan | None = None,
    ) -> SidePlan:
        """Return the plan of ``implementation`` (named ``spec`` in jobs) with its seeded closure."""
        return cls(
            implementation=spec,
            side=side,
            config=config,
            data_dir=data_dir,
            root=root,
            seeded=seeded_closure(implementation),
            provided=frozenset(implementation.provided_stages()),
            fallback=fallback,
            source_sha256=implementation.identity().get("source_sha256"),
        )

    def seed_config(self, seed: int) -> RunConfig:
        """Return the configuration of the run at ``seed``."""
        return replace(self.config, seed=seed)

    def seed_root(self, seed: int) -> Path:
        """Return the folder of the seeded stages of the run at ``seed``."""
        return self.root.parent / f"{self.root.name}-seed{seed}"

    def folder_of(self, stage: str, seed: int | None) -> Path:
        """Return the run folder that contains ``stage`` of the run at ``seed`` (``None``: base run)."""
        if stage not in self.provided and self.fallback is not None:
            return self.fallback.folder_of(stage, seed)
        if seed is not None and stage in self.seeded:
            return self.seed_root(seed)
        return self.root

    def base_step(self, stages: Iterable[str] = STAGE_NAMES) -> Step:
        """Return the step that computes ``stages`` of the base run."""
        chosen = _ordered(s for s in stages if s in self.provided)
        feeds = {stage: str(self.folder_of(stage, None)) for stage in _reads(chosen)}
        return self._step(self.config, self.root, chosen, feeds)

    def seed_step(self, seed: int) -> Step:
        """Return the step that computes the seeded closure at ``seed``, fed from the base run."""
        chosen = _ordered(s for s in self.seeded if s in self.provided)
        feeds = {stage: str(self.folder_of(stage, seed)) for stage in _reads(chosen)}
        return self._step(self.seed_config(seed), self.seed_root(seed), chosen, feeds)

    def _step(
        self, config: RunConfig, out_dir: Path, stages: list[str], feeds: Mapping[str, str]
    ) -> Step:
        return Step(
            implementation=self.implementation,
            side=self.side,
            config=config.to_dict(),
            data_dir=str(self.data_dir),
            out_dir=str(out_dir),
            stages=tuple(stages),
            feeds=dict(feeds),
            source_sha256=self.source_sha256,
        )


@dataclass(frozen=True)
class Hybrid:
    """The receiving side's pipeline with stage ``stage`` run by the donor side.

    Attributes
    ----------
    stage
        The swapped stage.
    receiver, donor
        The side whose pipeline runs, and the side whose implementation of
        ``stage`` replaces the receiver's.
    adapt
        Stages whose square image artifacts differ in size between the
        sides (see :func:`harness.matrix.adapters.size_mismatches`). When the
        swapped stage or one of its inputs is among them, it is resized to
        the consuming side's size where it crosses.
    """

    stage: str
    receiver: SidePlan
    donor: SidePlan
    adapt: frozenset[str] = frozenset()

    @property
    def folder(self) -> Path:
        """Folder of the hybrid's run folders, inside the receiver's base run."""
        return self.receiver.root / "hybrids" / f"{self.stage}-from-{self.donor.root.name}"

    @property
    def per_seed(self) -> bool:
        """``True`` when the swapped stage itself differs between seeds."""
        return self.stage in self.receiver.seeded or self.stage in self.donor.seeded

    def donor_root(self, seed: int | None) -> Path:
        """Return where the donor's output of the stage is stored for ``seed``.

        A seed-independent swap has one folder for all seeds, and ``seed`` is ignored.
        """
        return self.folder / (f"donor-seed{seed}" if self.per_seed else "donor")

    def shared_steps(self) -> list[Step]:
        """Return the seed-independent steps (empty when the swapped stage is seeded)."""
        if self.per_seed:
            return []
        steps = self._donor_steps(None)
        stages = self._downstream(seeded=False)
        if stages:
            feeds = self._feeds(stages, seed=None)
            steps.append(
                self.receiver._step(self.receiver.config, self.folder / "base", stages, feeds)
            )
        return steps

    def seed_steps(self, seed: int) -> list[Step]:
        """Return the steps that run at ``seed`` after :meth:`shared_steps` finished."""
        steps = self._donor_steps(seed) if self.per_seed else []
        stages = self._downstream(seeded=True)
        feeds = self._feeds(stages, seed=seed)
        steps.append(
            self.receiver._step(
                self.receiver.seed_config(seed), self.seed_root(seed), stages, feeds
            )
        )
        return steps

    def seed_root(self, seed: int) -> Path:
        """Return the folder of the hybrid's seeded stages (its scores live there)."""
        return self.folder / f"seed{seed}"

    def resized_stages(self) -> list[str]:
        """Return the stages resized where they cross: the swapped one and its inputs."""
        crossing = [*_reads([self.stage]), self.stage]
        return [stage for stage in _ordered(crossing) if stage in self.adapt]

    def _donor_steps(self, seed: int | None) -> list[Step | Adapt]:
        """Return the donor's run of the stage, with the resizes its inputs and output need."""
        donor_seed = seed if self.per_seed else None
        steps: list[Step | Adapt] = []
        feeds: dict[str, str] = {}
        for read in _reads([self.stage]):
            source = str(self.receiver.folder_of(read, donor_seed))
            if read in self.adapt:
                out = self._adapted_root(read, self.donor, seed)
                steps.append(
                    Adapt(read, source=source, like=str(self.donor.folder_of(read, None)), out_dir=out)
                )
                source = out
            feeds[read] = source
        config = (
            self.donor.seed_config(seed)
            if seed is not None and self.per_seed
            else self.donor.config
        )
        steps.append(self.donor._step(config, self.donor_root(seed), [self.stage], feeds))
        if self.stage in self.adapt:
            steps.append(
                Adapt(
                    self.stage,
                    source=str(self.donor_root(seed)),
                    like=str(self.receiver.folder_of(self.stage, None)),
                    out_dir=self._adapted_root(self.stage, self.receiver, seed),
                )
            )
        return steps

    def _adapted_root(self, stage: str, consumer: SidePlan, seed: int | None) -> str:
        """Return the folder of ``stage`` resized for ``consumer``."""
        suffix = f"-seed{seed}" if self.per_seed and seed is not None else ""
        return str(self.folder / "resized" / f"{stage}-for-{consumer.side}{suffix}")

    def _output_root(self, seed: int | None) -> str:
        """Return the folder the receiver reads the swapped stage from."""
        if self.stage in self.adapt:
            return self._adapted_root(self.stage, self.receiver, seed)
        return str(self.donor_root(seed))

    def _downstream(self, *, seeded: bool) -> list[str]:
        return [
            spec.name
            for spec in downstream_of(self.stage)
            if spec.name in self.receiver.provided and (spec.name in self.receiver.seeded) == seeded
        ]

    def _feeds(self, stages: list[str], *, seed: int | None) -> dict[str, str]:
        shared = set(self._downstream(seeded=False)) if not self.per_seed else set()
        feeds: dict[str, str] = {}
        for read in _reads(stages):
            if read == self.stage:
                feeds[read] = self._output_root(seed)
            elif read in shared:
                feeds[read] = str(self.folder / "base")
            else:
                feeds[read] = str(self.receiver.folder_of(read, seed))
        return feeds


def _reads(stages: Iterable[str]) -> list[str]:
    """Return the stages read by ``stages`` and not among them, in pipeline order."""
    chosen = set(stages)
    read = {r.split("/", 1)[0] for stage in chosen for r in get_stage(stage).reads}
    return _ordered(read - chosen)


def _ordered(stages: Iterable[str]) -> list[str]:
    chosen = set(stages)
    return [name for name in STAGE_NAMES if name in chosen]
