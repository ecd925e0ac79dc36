"""The diff report: every check of one ``harness diff`` run, with its provenance.

A :class:`DiffReport` is the single input of every renderer (terminal,
Markdown, HTML, JUnit). It is saved as ``report.json``, so ``harness report``
can render it again, or judge it against other thresholds, without rerunning
either side.

report.json schema (``format_version`` 1)
-----------------------------------------

Top level, a JSON object::

    {
      "format": "staig-harness-report",       str, always this value
      "format_version": 1,                    int, bumped on incompatible changes
      "harness_version": "0.1.0" | null,      str, installed staig-harness version
      "created_at": "2026-01-31T12:00:00+00:00",  str, ISO 8601 in UTC
      "command": ["harness", "diff", ...],    list[str], the argv of the run
      "data": {"path": str | null, "library_id": str | null, "n_spots": int | null},
      "sides": {"reference": SIDE, "candidate": SIDE},
      "stages_compared": [str, ...],          stages whose artifacts were compared
      "stages_not_provided": [str, ...],      stages the candidate does not implement
      "first_divergent_stage": str | null,    derived: see below
      "summary": {"pass": int, "fail": int, "warn": int, "waived": int,
                  "skip": int, "error": int, "total": int},   derived
      "exit_code": 0 | 1 | null,              derived: 1 when any check fails or errors,
                                              null when there are no checks
      "checks": [CHECK, ...],                 in the order the comparators produced them
      "tolerances": {check_id: TOLERANCE, ...},  plus CHECK:METRIC for a bound applied
                                              inside a check (train.embedding:knn_overlap)
      "attribution": [ATTRIBUTION, ...] | null,
      "figures_data": {"reference": str, "candidate": str} | null,
      "waivers": [{"check": str, "reason": str, "source": str}, ...],
      "isolated_stages": [str, ...],
      "settings": {"candidate", "preset", "device", "candidate_options", "calibration",
                   "attribution" (harness attribute only: seeds, confidence, stages,
                   directions, failed_jobs)}
    }

``SIDE``::

    {
      "implementation": {"name", "version", "class", "source_sha256", ...},
      "run_folder": str | null,               the side's run folder
      "stages_computed": [str, ...],          computed in this run
      "stages_reused": [str, ...],            loaded from the run folder's cache
      "stages_not_provided": [str, ...],      requested but not implemented by the side
      "preset": "staig" | "quick" | "quick-encoders" | null,
      "device": "cpu" | "cuda" | null
    }

``CHECK`` (one comparison)::

    {
      "id": "patches.centers",                str, the check id (``CheckResult.check_id``)
      "stage": "patches",                     str, pipeline stage compared
      "artifact": "centers",                  str, artifact within the stage
      "status": "fail",                       pass | fail | warn | waived | skip | error
      "metric": "max_error_px",               str, what ``observed`` measures
      "observed": 3.2,                        number | str | null (null: not measured)
      "threshold": 0.5,                       number | null (null: judged by equality)
      "unit": "px",                           str, unit of observed and threshold
      "direction": "max",                     "max" (observed <= threshold passes) |
                                              "min" (observed >= threshold passes) | null
      "threshold_source": "default",          default | calibration | user | null
      "description": "FAIL patches.centers: max_error_px 3.2 px > 0.5 px ...",
      "context": str,                         comparator's one-line summary
      "forced_failure": str,                  reason that fails whatever the threshold
      "diagnosis": str,                       likely cause, from the diagnosis catalogue
      "evidence": [{"key": barcode|gene|path, ...}, ...],  at most 100 rows, worst first
      "n_offending": int,                     offending rows in all (may exceed evidence)
      "details": {...}                        further statistics, JSON object
    }

Non-finite numbers (NaN, infinity) in ``observed``, ``threshold``,
``evidence``, ``details`` and ``attribution`` are written as the one-key
object ``{"float": "nan" | "inf" | "-inf"}``, because strict JSON has no literal
for them. A waived check may give its reason in ``details["waiver_reason"]``.

``TOLERANCE``: ``{"value": number, "direction": "max" | "min", "unit": str,
"source": "default" | "calibration" | "user"}``.

``ATTRIBUTION`` (one factor whose swap between the sides changes the ARI)::

    {"factor": str, "mean_delta_ari": number, "ci_low": number, "ci_high": number,
     "n_runs": int | null, "description": str,
     "direction": "fix" | "break" | null}     fix: ΔARI of the candidate with the
                                              reference's factor; break: of the reference
                                              with the candidate's factor

Derived fields (``first_divergent_stage``, ``summary``, ``exit_code``) are
written for scripts and recomputed from ``checks`` on reading.
``first_divergent_stage`` is the first stage, in pipeline order, with a check
whose status is ``fail`` or ``error``. Stages outside the pipeline (such as
``config``) come after the pipeline stages, in the order the checks list them.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from harness.artifacts.store import atomic_write_text
from harness.compare.result import STATUSES, CheckResult, Direction, Threshold
from harness.contract.stages import STAGE_NAMES
from harness.errors import InputError, MissingFileError
from harness.report.status import FAILING_STATUSES, exit_code

if TYPE_CHECKING:
    from harness.runner import SideRun

REPORT_FORMAT = "staig-harness-report"
REPORT_FORMAT_VERSION = 1
REPORT_FILE = "report.json"
SIDE_NAMES = ("reference", "candidate")
DISTRIBUTION_NAME = "staig-harness"

_NONFINITE_KEY = "float"


def utc_timestamp() -> str:
    """Return the current time as ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def installed_harness_version() -> str | None:
    """Return the installed ``staig-harness`` version, or ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(DISTRIBUTION_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None


def stage_order(stages: Iterable[str]) -> list[str]:
    """Return the distinct ``stages`` in pipeline order.

    Names that are not pipeline stages (such as ``"config"``) follow the
    pipeline stages, in the order they first occur.
    """
    distinct = list(dict.fromkeys(stages))
    known = [name for name in STAGE_NAMES if name in distinct]
    unknown = [name for name in distinct if name not in STAGE_NAMES]
    return known + unknown


def checks_by_stage(checks: Iterable[CheckResult]) -> dict[str, list[CheckResult]]:
    """Group ``checks`` by stage, stages in :func:`stage_order`, checks in their given order."""
    checks = list(checks)
    groups: dict[str, list[CheckResult]] = {
        stage: [] for stage in stage_order(check.stage for check in checks)
    }
    for check in checks:
        groups[check.stage].append(check)
    return groups


def ordered_checks(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Return ``checks`` sorted by stage in :func:`stage_order`, stable within a stage."""
    return [check for group in checks_by_stage(checks).values() for check in group]


@dataclass(frozen=True)
class SideInfo:
    """Provenance of one side of the diff.

    Attributes
    ----------
    implementation
        The implementation's identity: ``name``, ``version``, ``class`` and
        ``source_sha256`` for built-in sides (see ``Implementation.identity``).
    run_folder
        The side's run folder, or ``None`` when the side was not stored.
    stages_computed
        Stages computed in this run, in pipeline order.
    stages_reused
        Stages loaded from the run folder's cache.
    stages_not_provided
        Requested stages that the side does not implement.
    preset
        ``"staig"``, ``"quick"`` or ``"quick-encoders"``; ``None`` when unknown (a foreign artifact folder).
    device
        ``"cpu"`` or ``"cuda"``; ``None`` when unknown.
    """

    implementation: Mapping[str, Any]
    run_folder: str | None = None
    stages_computed: tuple[str, ...] = ()
    stages_reused: tuple[str, ...] = ()
    stages_not_provided: tuple[str, ...] = ()
    preset: str | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "implementation", dict(self.implementation))
        if self.run_folder is not None:
            object.__setattr__(self, "run_folder", str(self.run_folder))
        for name in ("stages_computed", "stages_reused", "stages_not_provided"):
            stages = tuple(getattr(self, name))
            _check_stage_names(stages, field_name=f"sides.*.{name}")
            object.__setattr__(self, name, stages)

    @property
    def label(self) -> str:
        """Short name for headers: the implementation's name and version."""
        name = self.implementation.get("name") or "unnamed"
        version = self.implementation.get("version")
        return f"{name} {version}" if version not in (None, "") else str(name)

    @classmethod
    def from_side_run(cls, run: SideRun, *, preset: str | None, device: str | None) -> SideInfo:
        """Describe a side from the runner's :class:`~harness.runner.SideRun`.

        The identity is read from the run folder's manifest, where the runner
        records it before the first stage.
        """
        manifest = run.store.read_run_manifest()
        return cls(
            implementation=manifest.get("implementation") or {},
            run_folder=str(run.store.root),
            stages_computed=tuple(run.computed),
            stages_reused=tuple(run.reused),
            stages_not_provided=tuple(run.not_provided),
            preset=preset,
            device=device,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the ``SIDE`` object of report.json."""
        return {
            "implementation": dict(self.implementation),
            "run_folder": self.run_folder,
            "stages_computed": list(self.stages_computed),
            "stages_reused": list(self.stages_reused),
            "stages_not_provided": list(self.stages_not_provided),
            "preset": self.preset,
            "device": self.device,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SideInfo:
        """Rebuild a side written by :meth:`to_json`."""
        _require_keys(data, ("implementation",), what="side")
        return cls(
            implementation=data["implementation"],
            run_folder=data.get("run_folder"),
            stages_computed=tuple(data.get("stages_computed", ())),
            stages_reused=tuple(data.get("stages_reused", ())),
            stages_not_provided=tuple(data.get("stages_not_provided", ())),
            preset=data.get("preset"),
            device=data.get("device"),
        )


@dataclass(frozen=True)
class DataInfo:
    """The slice both sides ran on.

    Attributes
    ----------
    path
        The Space Ranger folder, or ``None`` when the sides were given as artifact folders.
    library_id
        Slice name, e.g. ``"151673"``.
    n_spots
        Spots kept by the load stage (``load/barcodes``).
    """

    path: str | None = None
    library_id: str | None = None
    n_spots: int | None = None

    def __post_init__(self) -> None:
        if self.path is not None:
            object.__setattr__(self, "path", str(self.path))
        if self.n_spots is not None and (isinstance(self.n_spots, bool) or self.n_spots < 0):
            msg = f"`n_spots` is {self.n_spots!r}; expected a count >= 0 or None"
            raise InputError(msg)

    @property
    def label(self) -> str:
        """Short description for headers, e.g. ``"151673 (3639 spots)"``."""
        name = self.library_id or (Path(self.path).name if self.path else "unknown slice")
        return f"{name} ({self.n_spots} spots)" if self.n_spots is not None else name

    def to_json(self) -> dict[str, Any]:
        """Return the ``data`` object of report.json."""
        return {"path": self.path, "library_id": self.library_id, "n_spots": self.n_spots}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataInfo:
        """Rebuild the data description written by :meth:`to_json`."""
        return cls(
            path=data.get("path"), library_id=data.get("library_id"), n_spots=data.get("n_spots")
        )


@dataclass(frozen=True)
class AttributionRow:
    """The effect on the ARI of swapping one factor between the sides.

    Attributes
    ----------
    factor
        What was swapped, e.g. a stage name or a hyperparameter.
    mean_delta_ari
        Mean change in ARI over the runs (dimensionless).
    ci_low, ci_high
        Bounds of the confidence interval of ``mean_delta_ari``.
    n_runs
        Runs (seeds) averaged; ``None`` when not recorded.
    description
        One line on what the factor is.
    direction
        ``"fix"`` (the candidate with the reference's factor), ``"break"`` (the
        reference with the candidate's factor), or ``None`` when not recorded.
    """

    factor: str
    mean_delta_ari: float
    ci_low: float
    ci_high: float
    n_runs: int | None = None
    description: str = ""
    direction: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the ``ATTRIBUTION`` object of report.json."""
        return {
            "factor": self.factor,
            "mean_delta_ari": _encode_float(self.mean_delta_ari),
            "ci_low": _encode_float(self.ci_low),
            "ci_high": _encode_float(self.ci_high),
            "n_runs": self.n_runs,
            "description": self.description,
            "direction": self.direction,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttributionRow:
        """Rebuild a row written by :meth:`to_json`."""
        _require_keys(
            data, ("factor", "mean_delta_ari", "ci_low", "ci_high"), what="attribution row"
        )
        return cls(
            factor=str(data["factor"]),
            mean_delta_ari=_decode_float(data["mean_delta_ari"]),
            ci_low=_decode_float(data["ci_low"]),
            ci_high=_decode_float(data["ci_high"]),
            n_runs=data.get("n_runs"),
            description=data.get("description", ""),
            direction=data.get("direction"),
        )


ATTRIBUTION_DIRECTIONS = ("fix", "break")
"""Order of the directions in a ranking: repairs in the candidate first."""


def rank_attribution(rows: Iterable[AttributionRow]) -> list[AttributionRow]:
    """Return ``rows`` grouped by direction (fix, break, other), each by decreasing absolute
    mean ΔARI; NaN goes last, ties keep their order."""
    def key(row: AttributionRow) -> tuple[int, float]:
        group = (ATTRIBUTION_DIRECTIONS.index(row.direction)
                 if row.direction in ATTRIBUTION_DIRECTIONS else len(ATTRIBUTION_DIRECTIONS))
        size = -abs(row.mean_delta_ari) if math.isfinite(row.mean_delta_ari) else math.inf
        return group, size

    return sorted(rows, key=key)


@dataclass
class DiffReport:
    """The checks of one diff and what they were computed from.

    ``first_divergent_stage``, ``summary`` and ``exit_code`` are derived from
    ``checks`` on access, so they cannot disagree with them. The module
    docstring documents the report.json schema.

    Attributes
    ----------
    checks
        Every check result, in the order the comparators produced them.
    sides
        ``{"reference": SideInfo, "candidate": SideInfo}``.
    data
        The slice both sides ran on.
    stages_compared
        Stages whose artifacts were compared, pipeline order.
    stages_not_provided
        Stages the candidate does not implement.
    command
        The argv of the run, e.g. ``["harness", "diff", "--candidate", "strict"]``.
    tolerances
        Check id to the threshold used. Default: taken from the checks that have one.
    attribution
        Factors ranked by their effect on the ARI; ``None`` when not computed.
    figures_data
        Side name to run folder, read for the HTML figures; ``None`` draws only
        the figures that need no run folder.
    waivers
        Declared divergences in effect: ``{"check", "reason", "source"}`` each.
    isolated_stages
        Stages whose candidate step also ran on the reference's inputs.
    settings
        The diff's settings: candidate, preset, device, candidate options.
    created_at
        ISO 8601 time in UTC; default now.
    harness_version
        Installed ``staig-harness`` version; default read from the package metadata.
    """

    checks: list[CheckResult]
    sides: dict[str, SideInfo]
    data: DataInfo
    stages_compared: list[str]
    stages_not_provided: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    tolerances: dict[str, Threshold] = field(default_factory=dict)
    attribution: list[AttributionRow] | None = None
    figures_data: dict[str, Path] | None = None
    waivers: list[dict[str, str]] = field(default_factory=list)
    isolated_stages: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_timestamp)
    harness_version: str | None = field(default_factory=installed_harness_version)

    def __post_init__(self) -> None:
        self.checks = list(self.checks)
        self._validate_types()

        self.stages_compared = stage_order(self.stages_compared)
        self.stages_not_provided = stage_order(self.stages_not_provided)
        _check_stage_names(self.stages_compared, field_name="stages_compared")
        _check_stage_names(self.stages_not_provided, field_name="stages_not_provided")

        if not self.tolerances:
            self.tolerances = tolerances_from_checks(self.checks)
        if self.figures_data is not None:
            unknown = set(self.figures_data) - set(SIDE_NAMES)
            if unknown:
                msg = (
                    f"`figures_data` has keys {sorted(unknown)}; expected side names "
                    f"{list(SIDE_NAMES)} mapped to run folders"
                )
                raise InputError(msg)
            self.figures_data = {side: Path(path) for side, path in self.figures_data.items()}

        try:
            datetime.fromisoformat(self.created_at)
        except (TypeError, ValueError) as error:
            msg = f"`created_at` is {self.created_at!r}; expected an ISO 8601 time ({error})"
            raise InputError(msg) from error

    def _validate_types(self) -> None:
        for check in self.checks:
            if not isinstance(check, CheckResult):
                msg = f"`checks` contains {type(check).__name__}; expected CheckResult objects"
                raise InputError(msg)
        if set(self.sides) != set(SIDE_NAMES):
            msg = f"`sides` has keys {sorted(self.sides)}; expected exactly {list(SIDE_NAMES)}"
            raise InputError(msg)
        for name, side in self.sides.items():
            if not isinstance(side, SideInfo):
                msg = f"`sides[{name!r}]` is a {type(side).__name__}; expected a SideInfo"
                raise InputError(msg)
        if not isinstance(self.data, DataInfo):
            msg = f"`data` is a {type(self.data).__name__}; expected a DataInfo"
            raise InputError(msg)

    # -- derived values ------------------------------------------------------

    @property
    def first_divergent_stage(self) -> str | None:
        """First stage, in pipeline order, with a ``fail`` or ``error`` check; ``None`` if none."""
        for stage, checks in checks_by_stage(self.checks).items():
            if any(check.status in FAILING_STATUSES for check in checks):
                return stage
        return None

    @property
    def summary(self) -> dict[str, int]:
        """Number of checks per status (every status, zeros included) and ``"total"``."""
        counts = {status: 0 for status in STATUSES}
        for check in self.checks:
            counts[check.status] += 1
        counts["total"] = len(self.checks)
        return counts

    @property
    def exit_code(self) -> int | None:
        """1 when a check has status ``fail`` or ``error``, else 0; ``None`` without checks.

        The command line calls :func:`harness.report.status.exit_code`, which raises
        for a report without checks instead of returning ``None``.
        """
        if not self.checks:
            return None
        return exit_code(self.checks)

    # -- serialisation -------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Return the report.json object (schema in the module docstring)."""
        return {
            "format": REPORT_FORMAT,
            "format_version": REPORT_FORMAT_VERSION,
            "harness_version": self.harness_version,
            "created_at": self.created_at,
            "command": list(self.command),
            "data": self.data.to_json(),
            "sides": {side: self.sides[side].to_json() for side in SIDE_NAMES},
            "stages_compared": list(self.stages_compared),
            "stages_not_provided": list(self.stages_not_provided),
            "first_divergent_stage": self.first_divergent_stage,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "checks": [check_to_json(check) for check in self.checks],
            "tolerances": {key: value.to_json() for key, value in self.tolerances.items()},
            "attribution": (
                None if self.attribution is None else [row.to_json() for row in self.attribution]
            ),
            "figures_data": (
                None
                if self.figures_data is None
                else {side: str(path) for side, path in self.figures_data.items()}
            ),
            "waivers": [dict(waiver) for waiver in self.waivers],
            "isolated_stages": list(self.isolated_stages),
            "settings": dict(self.settings),
        }

    def to_json_text(self) -> str:
        """Return report.json's text: two-space indent, UTF-8 characters kept, strict JSON."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiffReport:
        """Rebuild a report from the report.json object; derived fields are recomputed.

        Raises
        ------
        InputError
            When ``format`` or ``format_version`` is not the one this harness writes,
            or a required field is missing.
        """
        if data.get("format") != REPORT_FORMAT:
            msg = (
                f"`format` is {data.get('format')!r}; expected {REPORT_FORMAT!r}. "
                "Pass the report.json written by `harness diff`."
            )
            raise InputError(msg)
        if data.get("format_version") != REPORT_FORMAT_VERSION:
            msg = (
                f"report format version {data.get('format_version')!r} is not supported; "
                f"this harness reads version {REPORT_FORMAT_VERSION}"
            )
            raise InputError(msg)
        _require_keys(
            data, ("checks", "sides", "data", "stages_compared", "created_at"), what="report"
        )
        attribution = data.get("attribution")
        figures_data = data.get("figures_data")
        return cls(
            checks=[check_from_json(entry) for entry in data["checks"]],
            sides={side: SideInfo.from_json(value) for side, value in data["sides"].items()},
            data=DataInfo.from_json(data["data"]),
            stages_compared=list(data["stages_compared"]),
            stages_not_provided=list(data.get("stages_not_provided", ())),
            command=list(data.get("command", ())),
            tolerances={
                key: Threshold.from_json(value)
                for key, value in (data.get("tolerances") or {}).items()
            },
            attribution=(
                None
                if attribution is None
                else [AttributionRow.from_json(row) for row in attribution]
            ),
            figures_data=None if figures_data is None else dict(figures_data),
            waivers=[dict(waiver) for waiver in data.get("waivers") or ()],
            isolated_stages=list(data.get("isolated_stages") or ()),
            settings=dict(data.get("settings") or {}),
            created_at=data["created_at"],
            harness_version=data.get("harness_version"),
        )

    def save(self, out_dir: Path) -> Path:
        """Write ``out_dir/report.json`` atomically and return its path; creates ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / REPORT_FILE
        atomic_write_text(path, self.to_json_text())
        return path

    @classmethod
    def load(cls, path: Path) -> DiffReport:
        """Read a report from a report.json file, or from the folder that contains one.

        Raises
        ------
        MissingFileError
            When no report.json exists at ``path``.
        InputError
            When the file is not valid JSON or not a harness report.
        """
        path = Path(path)
        file = path / REPORT_FILE if path.is_dir() else path
        if not file.is_file():
            msg = (
                f"no report found at {file}; pass the --out folder of `harness diff` "
                f"or the {REPORT_FILE} inside it"
            )
            raise MissingFileError(msg)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            msg = f"{file} is not valid JSON ({error}); rerun `harness diff` to write it again"
            raise InputError(msg) from error
        if not isinstance(data, Mapping):
            msg = f"{file} contains a JSON {type(data).__name__}; expected an object"
            raise InputError(msg)
        return cls.from_json(data)


def tolerances_from_checks(checks: Iterable[CheckResult]) -> dict[str, Threshold]:
    """Return check id to threshold for every check judged against one.

    A check that applies a second bound inside itself (``train.embedding``
    judges CKA and, in its details, the kNN overlap) adds that bound under
    ``CHECK:METRIC``, the spelling ``--tolerance`` takes.
    """
    found: dict[str, Threshold] = {}
    for check in checks:
        if check.threshold is not None:
            found[check.check_id] = check.threshold
        for metric, detail in check.details.items():
            nested = detail.get("threshold") if isinstance(detail, Mapping) else None
            if isinstance(nested, Mapping) and "value" in nested and "direction" in nested:
                found[f"{check.check_id}:{metric}"] = Threshold.from_json(nested)
    return found


def check_to_json(check: CheckResult) -> dict[str, Any]:
    """Return the report.json ``CHECK`` object of ``check``.

    Built from :meth:`CheckResult.to_json`: ``check_id`` is published as ``id``,
    and the threshold's value, unit, direction and source become top-level fields.
    """
    data = check.to_json()
    threshold = data.pop("threshold")
    data.pop("format", None)
    data.pop("version", None)
    check_id = data.pop("check_id")
    return {
        "id": check_id,
        "stage": data.pop("stage"),
        "artifact": data.pop("artifact"),
        "status": data.pop("status"),
        "metric": data.pop("metric"),
        "observed": data.pop("observed"),
        "threshold": None if threshold is None else threshold["value"],
        "unit": "" if threshold is None else threshold["unit"],
        "direction": None if threshold is None else threshold["direction"],
        "threshold_source": None if threshold is None else threshold["source"],
        "description": data.pop("description"),
        "context": data.pop("context"),
        "forced_failure": data.pop("forced_failure"),
        "diagnosis": data.pop("diagnosis"),
        "evidence": data.pop("evidence"),
        "n_offending": data.pop("n_offending"),
        "details": data.pop("details"),
        **data,
    }


def check_from_json(entry: Mapping[str, Any]) -> CheckResult:
    """Rebuild a :class:`CheckResult` from a report.json ``CHECK`` object."""
    _require_keys(
        entry, ("id", "stage", "artifact", "metric", "status", "description"), what="check"
    )
    data = dict(entry)
    value = data.pop("threshold", None)
    unit = data.pop("unit", "")
    direction = data.pop("direction", None)
    source = data.pop("threshold_source", None)
    threshold = None
    if value is not None:
        if direction not in get_args(Direction):
            msg = (
                f"check {entry['id']!r} has threshold {value!r} with direction {direction!r}; "
                "expected 'max' or 'min'"
            )
            raise InputError(msg)
        threshold = {"value": value, "direction": direction, "unit": unit or "",
                     "source": source or "default"}
    data["check_id"] = data.pop("id")
    data["threshold"] = threshold
    data.setdefault("observed", None)
    return CheckResult.from_json(data)


def _check_stage_names(stages: Sequence[str], *, field_name: str) -> None:
    unknown = [stage for stage in stages if stage not in STAGE_NAMES]
    if unknown:
        msg = (
            f"`{field_name}` names unknown stages {unknown}; valid stages, in order: "
            f"{', '.join(STAGE_NAMES)}"
        )
        raise InputError(msg)


def _require_keys(data: Mapping[str, Any], keys: Sequence[str], *, what: str) -> None:
    if not isinstance(data, Mapping):
        msg = f"{what} JSON is a {type(data).__name__}; expected an object"
        raise InputError(msg)
    missing = [key for key in keys if key not in data]
    if missing:
        msg = f"{what} JSON lacks {missing}; it has {sorted(data)}"
        raise InputError(msg)


def _encode_float(value: float) -> float | dict[str, str]:
    value = float(value)
    return value if math.isfinite(value) else {_NONFINITE_KEY: str(value)}


def _decode_float(value: Any) -> float:
    if isinstance(value, Mapping) and set(value) == {_NONFINITE_KEY}:
        return float(value[_NONFINITE_KEY])
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"attribution value {value!r} is not a number"
        raise InputError(msg)
    return float(value)
