"""The interface that the reference, the candidate and a user's own pipeline implement.

An implementation turns a stage's input artifacts into its output artifacts::

    class MyPipeline(StagewiseImplementation):
        name = "my-pipeline"

        def stage_graph(self, inputs, context):
            spatial = inputs["load/spatial"]
            ...
            return {"edges": edges, "config": {"num_neigh": 5}}

Inputs are keyed ``"<stage>/<artifact>"`` as listed in each stage's ``reads``
(see :mod:`harness.contract.stages`); outputs are keyed by artifact name.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES, get_stage

if TYPE_CHECKING:
    from harness.data.visium import VisiumSlice


@dataclass
class StageContext:
    """What a stage may use besides its input artifacts.

    Attributes
    ----------
    config
        The run configuration.
    device
        ``"cpu"`` or ``"cuda"``, resolved from ``config.device``.
    side
        ``"reference"`` or ``"candidate"``.
    data_dir
        The Space Ranger folder; needed by ``load`` and ``patches``.
    """

    config: RunConfig
    device: str
    side: str
    data_dir: Path | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("harness.stage"))
    _slice: Any = field(default=None, repr=False)

    def visium_slice(self) -> VisiumSlice:
        """Return the slice in :attr:`data_dir`, read once and cached (labels not dropped)."""
        if self._slice is None:
            from harness.data.visium import read_visium_slice
            from harness.errors import InputError

            if self.data_dir is None:
                msg = "this stage needs a Space Ranger folder, but the run has no data folder"
                raise InputError(msg)
            fullres = Path(self.config.fullres_image) if self.config.fullres_image else None
            self._slice = read_visium_slice(self.data_dir, fullres_image=fullres)
        return self._slice


@runtime_checkable
class Implementation(Protocol):
    """A pipeline that can compute some or all stages."""

    name: str

    def provided_stages(self) -> Collection[str]:
        """Return the stages this implementation computes."""
        ...

    def run_stage(
        self, stage: str, inputs: Mapping[str, Any], context: StageContext
    ) -> Mapping[str, Any]:
        """Compute ``stage`` from ``inputs`` and return its artifacts by name."""
        ...

    def identity(self) -> Mapping[str, Any]:
        """Return what identifies this implementation's code (name, version, source digest)."""
        ...


class StagewiseImplementation:
    """Base class that dispatches each stage to a method ``stage_<name>``.

    Subclasses set :attr:`name` and define ``stage_load``, ``stage_patches``
    and so on; a stage without a method is not provided.
    """

    name: str = "unnamed"
    version: str = "0"

    def provided_stages(self) -> list[str]:
        """Return the stages with a ``stage_<name>`` method, in pipeline order."""
        return [stage for stage in STAGE_NAMES if callable(getattr(self, f"stage_{stage}", None))]

    def run_stage(
        self, stage: str, inputs: Mapping[str, Any], context: StageContext
    ) -> Mapping[str, Any]:
        """Call ``stage_<stage>(inputs, context)``."""
        get_stage(stage)
        method = getattr(self, f"stage_{stage}", None)
        if method is None:
            msg = f"{self.name} does not implement stage {stage!r}; it provides {self.provided_stages()}"
            raise NotImplementedError(msg)
        return method(inputs, context)

    def identity(self) -> dict[str, Any]:
        """Return name, version, class path and a digest of the defining package's source."""
        module = inspect.getmodule(type(self))
        return {
            "name": self.name,
            "version": self.version,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "source_sha256": source_digest(module.__name__ if module else type(self).__module__),
        }


@functools.cache
def source_digest(module_name: str) -> str | None:
    """Return the SHA-256 over the ``.py`` files of the top-level package of ``module_name``.

    Editing any file of that package changes the digest and so invalidates
    cached stages of implementations defined there. ``None`` when the source
    cannot be located (a frozen or built-in module).
    """
    import importlib

    top = importlib.import_module(module_name.split(".", 1)[0])
    location = getattr(top, "__file__", None)
    if location is None:
        return None
    path = Path(location)
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()
