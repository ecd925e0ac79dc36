"""Figures of the HTML report, drawn with matplotlib into PNG bytes.

Four figures:

1. patch centres of both sides over the tissue image, in the pixel frame of
   the image level the reference cut its patches from;
2. spatial domain maps of both sides next to the ground truth;
3. one bar per stage with an agreement measure taken from the checks;
4. ARI (and NMI) of both sides against the ground truth.

Figures 1, 2 and 4 read the sides' run folders. A figure whose artifacts are
missing (a stage not run, no run folder given, an image file moved) is
returned without an image and with a note saying what is missing.

matplotlib is used through its object-oriented API (``Figure`` with an Agg
canvas), which never touches pyplot's global state or the process-wide
backend, so importing or calling this module has no side effects on other
plotting code.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from harness.artifacts.store import RunStore, StageRecord
from harness.compare.result import CheckResult
from harness.errors import CorruptArtifactError
from harness.report.model import (
    SIDE_NAMES,
    AttributionRow,
    DiffReport,
    checks_by_stage,
    rank_attribution,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

FIGURE_DPI = 80
"""PNG resolution in dots per inch. At 80 the four figures of a DLPFC slice (3639 spots)
took 0.79 MB of PNG in a test with matplotlib 3.11."""

BACKDROP_MAX_SIDE_PX = 1600
"""Maximum length in px of the longer side of the tissue image drawn behind the centres.
Larger images are read with an integer stride (every n-th row and column)."""

AGREEMENT_METRICS = ("cka", "ari", "jaccard", "agreement", "knn_overlap")
"""Metric names drawn in the agreement figure. A check's metric matches a name when
the name is one of its underscore-separated parts, so ``linear_cka`` matches ``cka``
and ``mean_knn_overlap`` matches ``knn_overlap``."""

SCORE_NAMES = ("ari", "ari_unrefined", "nmi")
"""Keys of ``metrics/scores`` drawn in the score figure, when present."""

MISSING_LABEL = ""
"""Label value that ``load/labels`` writes for a spot without ground truth."""

MAX_LEGEND_ENTRIES = 20

SIDE_COLOURS = {"reference": "#1f77b4", "candidate": "#ff7f0e"}
STATUS_COLOURS = {
    "pass": "#2ca02c",
    "fail": "#d62728",
    "error": "#9467bd",
    "warn": "#e6b800",
    "waived": "#17becf",
    "skip": "#7f7f7f",
}
_TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the HTML report.

    Attributes
    ----------
    key
        Stable identifier, e.g. ``"patch_centres"``; used as the HTML element id.
    title
        Caption title.
    png
        The PNG bytes; ``None`` when the figure could not be drawn.
    note
        What the figure shows (for a drawn figure) or what is missing (otherwise).
    """

    key: str
    title: str
    png: bytes | None
    note: str

    @property
    def drawn(self) -> bool:
        """Whether the figure has an image."""
        return self.png is not None


class FigureUnavailableError(Exception):
    """An artifact or file that a figure needs is missing. The message names it."""


def build_figures(report: DiffReport) -> list[ReportFigure]:
    """Draw every figure of the HTML report.

    Parameters
    ----------
    report
        The diff. ``report.figures_data`` maps side names to run folders; when it is
        ``None`` only the agreement figure, which needs only the checks, is drawn.
    """
    started = time.perf_counter()
    run_folders = dict(report.figures_data or {})
    readers = {side: RunFolderReader(side, Path(path)) for side, path in run_folders.items()}
    figures = [
        patch_centres_figure(readers),
        domain_maps_figure(readers),
        agreement_figure(report.checks),
        score_figure(readers),
    ]
    logger.info(
        "Figures finished in %.2f s: %d drawn, %d left out",
        time.perf_counter() - started,
        sum(figure.drawn for figure in figures),
        sum(not figure.drawn for figure in figures),
    )
    return figures


class RunFolderReader:
    """Read artifacts of one side's run folder for drawing.

    Stages are opened without recomputing their SHA-256 digests: the diff has
    already verified them, and hashing a full ``patches/patches`` array (several
    GB) only to draw a scatter plot would dominate the report's run time.
    """

    def __init__(self, side: str, root: Path) -> None:
        self.side = side
        self.root = Path(root)
        self._store = RunStore(self.root)
        self._stages: dict[str, StageRecord] = {}

    def artifact(self, stage: str, name: str) -> Any:
        """Return artifact ``stage/name``, or raise :class:`FigureUnavailableError` if absent."""
        record = self._stage(stage)
        if name not in record.artifacts:
            msg = f"the {self.side} run folder has no {stage}/{name}"
            raise FigureUnavailableError(msg)
        try:
            return record.load(name, mmap=False)
        except (OSError, ValueError, CorruptArtifactError) as error:
            msg = f"the {self.side} artifact {stage}/{name} is unreadable ({error})"
            raise FigureUnavailableError(msg) from error

    def has(self, stage: str, name: str) -> bool:
        """Return whether ``stage/name`` exists in the run folder."""
        try:
            return name in self._stage(stage).artifacts
        except FigureUnavailableError:
            return False

    def _stage(self, stage: str) -> StageRecord:
        if stage not in self._stages:
            try:
                self._stages[stage] = self._store.open_stage(stage, verify=False)
            except FileNotFoundError as error:
                msg = f"the {self.side} run folder {self.root} has no {stage} stage"
                raise FigureUnavailableError(msg) from error
            except CorruptArtifactError as error:
                msg = f"the {self.side} {stage} stage is unreadable ({error})"
                raise FigureUnavailableError(msg) from error
        return self._stages[stage]


# -- 1. patch centres ----------------------------------------------------------------


def patch_centres_figure(readers: Mapping[str, RunFolderReader]) -> ReportFigure:
    """Draw both sides' patch centres over the tissue image, in the reference's frame.

    Each side's ``patches/centers`` are in px of the image level that side used
    (``patches/image_level``). Candidate centres are converted to the reference's
    level: divided by the candidate's scale (to full-resolution px) and multiplied
    by the reference's. Centres that a side computed in the wrong frame therefore
    land away from the tissue, e.g. piled up in a corner.
    """
    key, title = "patch_centres", "Patch centres over the tissue image"
    try:
        reference = _reader(readers, "reference")
        reference_level = _image_level(reference)
        reference_scale = reference_level["scale"]
        reference_centres = _points(reference.artifact("patches", "centers"), what="reference")
        notes = [
            f"Frame: px of the reference's {reference_level['level']} image "
            f"(scale {reference_scale:g})."
        ]

        candidate_centres = None
        try:
            candidate = _reader(readers, "candidate")
            candidate_level = _image_level(candidate)
            raw = _points(candidate.artifact("patches", "centers"), what="candidate")
            candidate_centres = raw / candidate_level["scale"] * reference_scale
            notes.append(
                f"Candidate centres converted from its {candidate_level['level']} image "
                f"(scale {candidate_level['scale']:g})."
            )
            notes.append(_centre_offset_note(reference, candidate, reference_centres,
                                             candidate_centres))
        except FigureUnavailableError as error:
            notes.append(f"Candidate not drawn: {error}.")

        backdrop, backdrop_note = _backdrop(reference, reference_level)
        notes.append(backdrop_note)
        png = _draw_centres(reference_centres, candidate_centres, backdrop=backdrop,
                            level_name=reference_level["level"])
    except FigureUnavailableError as error:
        return ReportFigure(key, title, None, f"Not drawn: {error}.")
    return ReportFigure(key, title, png, " ".join(note for note in notes if note))


@dataclass(frozen=True)
class _Backdrop:
    pixels: np.ndarray
    extent: tuple[float, float, float, float]


def _image_level(reader: RunFolderReader) -> dict[str, Any]:
    """Return the side's ``patches/image_level`` with its validated ``scale`` and ``level`` name."""
    from harness.diagnose.patches import read_level_record
    from harness.errors import InputError

    level = reader.artifact("patches", "image_level")
    try:
        record = read_level_record(level, side=reader.side)
    except InputError as error:
        raise FigureUnavailableError(str(error)) from None
    return {**level, "scale": record.scale, "level": record.name}


def _points(values: Any, *, what: str) -> np.ndarray:
    points = np.asarray(values, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        msg = f"the {what} patches/centers have shape {points.shape}; expected (n_spots, 2)"
        raise FigureUnavailableError(msg)
    return points


def _centre_offset_note(
    reference: RunFolderReader,
    candidate: RunFolderReader,
    reference_centres: np.ndarray,
    candidate_centres: np.ndarray,
) -> str:
    """Return the median distance between the sides' centres, joined by barcode."""
    try:
        reference_barcodes = np.asarray(reference.artifact("load", "barcodes")).astype(str)
        candidate_barcodes = np.asarray(candidate.artifact("load", "barcodes")).astype(str)
    except FigureUnavailableError as error:
        return f"No distance between the sides: {error}."
    if (
        reference_barcodes.shape[0] != reference_centres.shape[0]
        or candidate_barcodes.shape[0] != candidate_centres.shape[0]
    ):
        return "No distance between the sides: load/barcodes and patches/centers differ in length."
    candidate_index = pd.Index(candidate_barcodes)
    if not candidate_index.is_unique or not pd.Index(reference_barcodes).is_unique:
        return "No distance between the sides: load/barcodes has duplicates."

    position = candidate_index.get_indexer(reference_barcodes)
    matched = position >= 0
    if not matched.any():
        return "No distance between the sides: no barcode is shared."
    distance = np.hypot(*(candidate_centres[position[matched]] - reference_centres[matched]).T)
    distance = distance[np.isfinite(distance)]
    if distance.size == 0:
        return "No distance between the sides: every shared centre is non-finite."
    return (
        f"Median distance between the sides' centres: {np.median(distance):.3g} px, "
        f"max {distance.max():.3g} px, over {distance.size} shared barcodes."
    )


def _backdrop(reference: RunFolderReader, level: Mapping[str, Any]) -> tuple[_Backdrop | None, str]:
    """Return the tissue image to draw, placed in the reference level's px, and a note.

    The reference's own level is drawn when its longest side is at most
    :data:`BACKDROP_MAX_SIDE_PX`. A larger level (a full-resolution TIFF) is
    replaced by the smallest level listed in ``load/scalefactors``, scaled into
    the same frame, because it shows the same tissue at a fraction of the reading cost.
    """
    levels = _image_levels(reference, level)
    if not levels:
        return None, "No tissue image: no image path is recorded."
    existing = {name: entry for name, entry in levels.items() if Path(entry["path"]).is_file()}
    if not existing:
        paths = ", ".join(str(entry["path"]) for entry in levels.values())
        return None, f"No tissue image: the recorded image files are missing ({paths})."

    own = existing.get(level["level"])
    if own is not None and max(own["shape"] or (math.inf,)) <= BACKDROP_MAX_SIDE_PX:
        name = level["level"]
    else:
        name = min(existing, key=lambda item: existing[item]["scale"])
    entry = existing[name]
    try:
        pixels, step = _read_downsampled(Path(entry["path"]), max_side=BACKDROP_MAX_SIDE_PX)
    except (OSError, ValueError, KeyError) as error:
        # KeyError: tifffile's Zarr store raises it when a compressed TIFF needs
        # the `imagecodecs` package and it is not installed.
        return None, f"No tissue image: {entry['path']} is unreadable ({error})."

    factor = level["scale"] / entry["scale"]
    height, width = pixels.shape[:2]
    extent = (0.0, width * step * factor, height * step * factor, 0.0)
    note = f"Tissue image: {name} ({Path(entry['path']).name})"
    note += f", read with a stride of {step} px." if step > 1 else "."
    return _Backdrop(pixels, extent), note


def _image_levels(reference: RunFolderReader, level: Mapping[str, Any]) -> dict[str, dict]:
    """Return level name to ``{"path", "scale", "shape"}`` from load/scalefactors.

    When the load stage is absent, the path that ``patches/image_level`` records
    for the reference's own level is used.
    """
    levels: dict[str, dict] = {}
    if reference.has("load", "scalefactors"):
        recorded = reference.artifact("load", "scalefactors").get("image_levels") or {}
        for name, entry in recorded.items():
            if isinstance(entry, Mapping) and entry.get("path") and entry.get("scale"):
                shape = entry.get("shape")
                levels[name] = {
                    "path": str(entry["path"]),
                    "scale": float(entry["scale"]),
                    "shape": tuple(shape) if shape else None,
                }
    if level["level"] not in levels and level.get("image_path"):
        shape = level.get("image_shape")
        levels[level["level"]] = {
            "path": str(level["image_path"]),
            "scale": level["scale"],
            "shape": tuple(shape) if shape else None,
        }
    return levels


def _read_downsampled(path: Path, *, max_side: int) -> tuple[np.ndarray, int]:
    """Read an image with the smallest integer stride that fits ``max_side``.

    Returns
    -------
    pixels
        ``(height, width, channels)`` or ``(height, width)`` uint8.
    step
        The stride in px of the file.
    """
    if path.suffix.lower() in _TIFF_SUFFIXES:
        return _read_tiff_downsampled(path, max_side=max_side)

    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        step = max(1, math.ceil(max(width, height) / max_side))
        pixels = np.asarray(image.convert("RGB"))
    return pixels[::step, ::step], step


def _read_tiff_downsampled(path: Path, *, max_side: int) -> tuple[np.ndarray, int]:
    import tifffile
    import zarr

    with tifffile.TiffFile(path) as tiff:
        if not tiff.series:
            msg = f"TIFF file {path} contains no image"
            raise ValueError(msg)
        base = tiff.series[0].levels[0]
        axes, shape = base.axes, tuple(base.shape)
    if "Y" not in axes or "X" not in axes:
        msg = f"TIFF file {path} has axes {axes!r}; expected Y and X axes"
        raise ValueError(msg)

    step = max(1, math.ceil(max(shape[axes.index("Y")], shape[axes.index("X")]) / max_side))
    index: list[slice | int] = []
    for axis, size in zip(axes, shape, strict=True):
        if axis in "YX":
            index.append(slice(None, None, step))
        elif axis in "SC" and size > 1:
            index.append(slice(None))
        else:
            index.append(0)
    with tifffile.imread(path, aszarr=True, series=0, level=0) as store:
        pixels = np.asarray(zarr.open(store, mode="r")[tuple(index)])
    kept = [axis for axis, item in zip(axes, index, strict=True) if not isinstance(item, int)]
    if len(kept) == 3 and kept.index("Y") > 0:
        pixels = np.moveaxis(pixels, 0, -1)
    return pixels, step


def _draw_centres(
    reference: np.ndarray,
    candidate: np.ndarray | None,
    *,
    backdrop: _Backdrop | None,
    level_name: str,
) -> bytes:
    figure, axes = _new_figure(1, width_in=6.0, height_in=6.0)
    axis = axes[0]
    bounds: list[np.ndarray] = []
    if backdrop is not None:
        axis.imshow(backdrop.pixels, extent=backdrop.extent, interpolation="nearest")
        left, right, bottom, top = backdrop.extent
        bounds.append(np.array([[left, top], [right, bottom]]))

    layers = [("reference", reference, "o")]
    if candidate is not None:
        layers.append(("candidate", candidate, "x"))
    size = _marker_size(len(reference))
    for side, points, marker in layers:
        finite = points[np.isfinite(points).all(axis=1)]
        if finite.size:
            bounds.append(finite)
        style = {"facecolors": "none", "edgecolors": SIDE_COLOURS[side]} if marker == "o" else {
            "c": SIDE_COLOURS[side]
        }
        axis.scatter(finite[:, 0], finite[:, 1], s=size, marker=marker, linewidths=0.6,
                     label=f"{side} ({len(finite)} centres)", **style)

    if bounds:
        stacked = np.vstack(bounds)
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        margin = 0.02 * max(float((high - low).max()), 1.0)
        axis.set_xlim(low[0] - margin, high[0] + margin)
        axis.set_ylim(high[1] + margin, low[1] - margin)  # y grows downwards, as in the image
    axis.set_aspect("equal")
    axis.set_xlabel(f"x (px, reference {level_name} image)")
    axis.set_ylabel("y (px)")
    axis.legend(loc="upper right", fontsize="small", markerscale=2)
    return _png(figure)


# -- 2. domain maps --------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelMap:
    """One panel of the domain figure: labels indexed by barcode, positions in the same order."""

    labels: pd.Series
    spatial: np.ndarray
    source: str


def domain_maps_figure(readers: Mapping[str, RunFolderReader]) -> ReportFigure:
    """Draw both sides' spatial domains next to the ground truth.

    Each side is drawn at its own ``load/spatial`` (full-resolution px, y
    downwards, as in the image) with ``refine/refined``, or ``cluster/domains``
    when it has no refine stage. Domain labels are arbitrary, so each side's
    labels are matched to the ground-truth layers (to the reference's domains
    when there is no ground truth) by :func:`match_labels`, and a matched label
    takes the colour of its partner.
    """
    key, title = "domain_maps", "Spatial domains and ground truth"
    notes: list[str] = []
    maps: dict[str, _LabelMap] = {}
    for side in SIDE_NAMES:
        try:
            maps[side] = _side_domains(_reader(readers, side))
        except FigureUnavailableError as error:
            notes.append(f"{side.capitalize()} not drawn: {error}.")
            continue
        notes.append(f"{side.capitalize()} domains from {maps[side].source}.")
    truth = _ground_truth(readers, notes)

    if not maps:
        return ReportFigure(key, title, None, "Not drawn: " + " ".join(notes))
    png = _draw_domains(maps, truth)
    return ReportFigure(key, title, png, " ".join(notes))


def match_labels(labels: pd.Series, target: pd.Series) -> dict[str, str]:
    """Map labels to the ``target`` labels they share most barcodes with, one to one.

    Both series are indexed by barcode and joined on it, never by position.
    The assignment maximises the number of shared barcodes (Hungarian algorithm
    on the contingency table, :func:`scipy.optimize.linear_sum_assignment`).
    Labels left without a partner, when there are more labels than target
    labels, are absent from the result.

    Parameters
    ----------
    labels
        ``(n_spots,)`` labels to rename, indexed by barcode.
    target
        ``(n_target,)`` labels to match, indexed by barcode.
    """
    joined = pd.concat(
        [labels.rename("labels"), target.rename("target")], axis=1, join="inner"
    )
    if joined.empty:
        return {}
    table = pd.crosstab(joined["labels"], joined["target"])
    rows, columns = linear_sum_assignment(table.to_numpy(), maximize=True)
    return {
        str(table.index[row]): str(table.columns[column])
        for row, column in zip(rows, columns, strict=True)
    }


def _side_domains(reader: RunFolderReader) -> _LabelMap:
    barcodes = np.asarray(reader.artifact("load", "barcodes")).astype(str)
    spatial = np.asarray(reader.artifact("load", "spatial"), dtype=np.float64)
    source = "refine/refined" if reader.has("refine", "refined") else "cluster/domains"
    domains = np.asarray(reader.artifact(*source.split("/"))).astype(str)
    if spatial.ndim != 2 or spatial.shape[1] != 2 or not (
        barcodes.shape[0] == spatial.shape[0] == domains.shape[0]
    ):
        msg = (
            f"its load/barcodes {barcodes.shape}, load/spatial {spatial.shape} and "
            f"{source} {domains.shape} disagree"
        )
        raise FigureUnavailableError(msg)
    return _LabelMap(pd.Series(domains, index=barcodes), spatial, source)


def _ground_truth(readers: Mapping[str, RunFolderReader], notes: list[str]) -> _LabelMap | None:
    """Return the labelled spots of the first side with ``load/labels``, reference first."""
    for side in SIDE_NAMES:
        reader = readers.get(side)
        if reader is None or not reader.has("load", "labels"):
            continue
        try:
            barcodes = np.asarray(reader.artifact("load", "barcodes")).astype(str)
            labels = np.asarray(reader.artifact("load", "labels")).astype(str)
            spatial = np.asarray(reader.artifact("load", "spatial"), dtype=np.float64)
        except FigureUnavailableError as error:
            notes.append(f"No ground truth from the {side}: {error}.")
            continue
        if not (barcodes.shape[0] == labels.shape[0] == spatial.shape[0]):
            notes.append(
                f"No ground truth from the {side}: load/labels and load/barcodes differ in length."
            )
            continue
        labelled = labels != MISSING_LABEL
        notes.append(
            f"Ground truth from the {side} load/labels ({int(labelled.sum())} labelled spots)."
        )
        return _LabelMap(
            pd.Series(labels[labelled], index=barcodes[labelled]),
            spatial[labelled],
            f"{side} load/labels",
        )
    notes.append("No ground truth: neither side has load/labels.")
    return None


def _draw_domains(maps: Mapping[str, _LabelMap], truth: _LabelMap | None) -> bytes:
    if truth is not None:
        target = truth.labels
    else:
        target = (maps["reference"] if "reference" in maps else next(iter(maps.values()))).labels
    categories = sorted(target.unique().tolist())
    names = list(categories)
    renamed: dict[str, np.ndarray] = {}
    for side, label_map in maps.items():
        mapping = match_labels(label_map.labels, target)
        unmatched = sorted(set(label_map.labels.unique().tolist()) - set(mapping))
        mapping.update({label: f"{side} {label}" for label in unmatched})
        names.extend(mapping[label] for label in unmatched)
        renamed[side] = label_map.labels.map(mapping).to_numpy()
    palette = _Palette(names)

    panels = [
        (f"{side} ({label_map.labels.nunique()} domains)", label_map.spatial, renamed[side])
        for side, label_map in maps.items()
    ]
    if truth is not None:
        panels.append(
            (f"ground truth ({len(categories)} labels)", truth.spatial, truth.labels.to_numpy())
        )
    figure, axes = _new_figure(len(panels), width_in=3.6 * len(panels), height_in=4.0)
    for axis, (title, spatial, values) in zip(axes, panels, strict=True):
        finite = np.isfinite(spatial).all(axis=1)
        axis.scatter(
            spatial[finite, 0], spatial[finite, 1], c=palette.colours_of(values[finite]),
            s=_marker_size(int(finite.sum())), linewidths=0,
        )
        axis.set_aspect("equal")
        axis.invert_yaxis()  # y grows downwards, as in the tissue image
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title(title, fontsize="medium")
    if len(categories) <= MAX_LEGEND_ENTRIES:
        palette.legend(axes[-1], categories)
    return _png(figure)


class _Palette:
    """Categorical colours: matplotlib's tab10, tab20b and tab20c (50 colours), then repeated."""

    def __init__(self, names: Iterable[str]) -> None:
        import matplotlib

        self.names = list(dict.fromkeys(names))
        base = np.vstack(
            [np.asarray(matplotlib.colormaps[name].colors)[:, :3]
             for name in ("tab10", "tab20b", "tab20c")]
        )
        self.rgb = base[np.arange(len(self.names)) % len(base)]
        self.missing = np.array([0.6, 0.6, 0.6])

    def colours_of(self, values: np.ndarray) -> np.ndarray:
        """Return ``(n, 3)`` RGB rows for ``values``, grey for names not in the palette."""
        codes = pd.Categorical(values, categories=self.names).codes
        colours = np.where(codes[:, None] >= 0, self.rgb[np.maximum(codes, 0)], self.missing)
        return colours

    def legend(self, axis: Axes, names: Iterable[str]) -> None:
        """Add a legend of ``names`` to the right of ``axis``."""
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="o", linestyle="", color=self.rgb[self.names.index(name)],
                   label=name)
            for name in names
        ]
        axis.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5),
                    fontsize="x-small", frameon=False)


# -- 3. agreement per stage ---------------------------------------------------------


def is_agreement_metric(metric: str) -> bool:
    """Return whether one of :data:`AGREEMENT_METRICS` is an ``_``-separated part of ``metric``."""
    padded = f"_{metric}_"
    return any(f"_{name}_" in padded for name in AGREEMENT_METRICS)


def agreement_measures(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Return, per stage in pipeline order, the first check with a finite agreement metric.

    A check judged against an upper bound (direction ``"max"``) measures a
    difference, such as an ARI gap, not an agreement, so it is left out.
    """
    chosen = []
    for checks_of_stage in checks_by_stage(checks).values():
        for check in checks_of_stage:
            observed = check.observed
            numeric = isinstance(observed, int | float) and not isinstance(observed, bool)
            upper_bound = check.threshold is not None and check.threshold.direction == "max"
            if (
                is_agreement_metric(check.metric)
                and numeric
                and math.isfinite(observed)
                and not upper_bound
            ):
                chosen.append(check)
                break
    return chosen


def agreement_figure(checks: Iterable[CheckResult]) -> ReportFigure:
    """Draw one bar per stage with its agreement measure, coloured by check status."""
    key, title = "agreement", "Agreement between the sides per stage"
    chosen = agreement_measures(checks)
    if not chosen:
        note = (
            "Not drawn: no check measured an agreement metric "
            f"({', '.join(AGREEMENT_METRICS)})."
        )
        return ReportFigure(key, title, None, note)

    values = np.array([float(check.observed) for check in chosen])
    figure, axes = _new_figure(1, width_in=max(4.0, 1.0 * len(chosen) + 1.5), height_in=3.6)
    axis = axes[0]
    positions = np.arange(len(chosen))
    axis.bar(positions, values, color=[STATUS_COLOURS[check.status] for check in chosen])
    for position, value, check in zip(positions, values, chosen, strict=True):
        axis.annotate(f"{value:.3g}", (position, value), ha="center", va="bottom",
                      fontsize="x-small", xytext=(0, 2), textcoords="offset points")
        if check.threshold is not None and math.isfinite(check.threshold.value):
            axis.hlines(check.threshold.value, position - 0.4, position + 0.4,
                        colors="black", linestyles="--", linewidth=1)
    axis.set_xticks(positions, [f"{check.stage}\n{check.metric}" for check in chosen],
                    fontsize="x-small")
    axis.set_ylim(min(0.0, float(values.min())) - 0.05, max(1.0, float(values.max())) + 0.1)
    axis.set_ylabel("agreement (1 = identical)")
    note = (
        "One bar per stage: the first check whose metric is one of "
        f"{', '.join(AGREEMENT_METRICS)} and that is not an upper bound. Colour: check "
        "status (green pass, red fail); dashed line: threshold."
    )
    return ReportFigure(key, title, _png(figure), note)


# -- attribution ---------------------------------------------------------------------

DIRECTION_COLOURS = {"fix": "#1f77b4", "break": "#ff7f0e"}
"""Bar colours of the attribution chart by direction; other rows are grey."""


def attribution_figure(rows: Iterable[AttributionRow]) -> ReportFigure:
    """Draw one horizontal bar per factor and direction: mean ΔARI with its interval, ranked."""
    key, title = "attribution", "Change in final ARI per swapped stage"
    ranked = [row for row in rank_attribution(rows) if math.isfinite(row.mean_delta_ari)]
    if not ranked:
        return ReportFigure(key, title, None, "Not drawn: no factor has a finite mean ΔARI.")
    means = np.array([row.mean_delta_ari for row in ranked])
    low = np.array([row.ci_low for row in ranked])
    high = np.array([row.ci_high for row in ranked])
    known = np.isfinite(low) & np.isfinite(high)
    errors = np.vstack([np.where(known, means - low, 0.0), np.where(known, high - means, 0.0)])
    figure, axes = _new_figure(1, width_in=7.0, height_in=max(2.0, 0.4 * len(ranked) + 1.0))
    axis = axes[0]
    positions = np.arange(len(ranked))[::-1]
    colours = [DIRECTION_COLOURS.get(row.direction or "", "#7f7f7f") for row in ranked]
    axis.barh(positions, means, xerr=errors, color=colours, ecolor="black", capsize=3)
    axis.axvline(0.0, color="black", linewidth=0.8)
    labels = [f"{row.factor} ({row.direction})" if row.direction else row.factor for row in ranked]
    axis.set_yticks(positions, labels, fontsize="x-small")
    axis.set_xlabel("mean ΔARI (hybrid minus the receiving side alone)")
    note = (
        "Blue: the candidate with the reference's stage (what repairing it recovers); orange: "
        "the reference with the candidate's stage (what it costs). Error bars: confidence "
        "interval over seeds (none with one seed)."
    )
    return ReportFigure(key, title, _png(figure), note)


# -- 4. scores against the ground truth ---------------------------------------------


def score_figure(readers: Mapping[str, RunFolderReader]) -> ReportFigure:
    """Draw each side's ARI (and NMI when present) from ``metrics/scores``."""
    key, title = "scores", "ARI against the ground truth"
    notes: list[str] = []
    scores: dict[str, dict[str, float]] = {}
    for side in SIDE_NAMES:
        try:
            scores[side] = _scores(_reader(readers, side))
        except FigureUnavailableError as error:
            notes.append(f"{side.capitalize()} has no scores: {error}.")
    names = [name for name in SCORE_NAMES if any(name in values for values in scores.values())]
    if not names:
        return ReportFigure(key, title, None, "Not drawn: " + " ".join(notes or [
            f"metrics/scores has none of {', '.join(SCORE_NAMES)}."
        ]))

    figure, axes = _new_figure(1, width_in=5.0, height_in=3.4)
    axis = axes[0]
    positions = np.arange(len(names))
    width = 0.8 / len(scores)
    drawn: list[float] = []
    for offset, (side, values) in enumerate(scores.items()):
        heights = np.array([values.get(name, np.nan) for name in names])
        x = positions - 0.4 + width * (offset + 0.5)
        axis.bar(x, np.nan_to_num(heights), width=width, color=SIDE_COLOURS[side], label=side)
        for left, height in zip(x, heights, strict=True):
            label = "n/a" if not math.isfinite(height) else f"{height:.3f}"
            axis.annotate(label, (left, 0 if not math.isfinite(height) else height),
                          ha="center", va="bottom", fontsize="x-small",
                          xytext=(0, 2), textcoords="offset points")
        drawn.extend(height for height in heights if math.isfinite(height))
    axis.set_xticks(positions, names)
    low = min([0.0, *drawn])
    axis.set_ylim(low - 0.05, max([1.0, *drawn]) + 0.1)
    axis.legend(fontsize="small")
    notes.insert(0, "From each side's metrics/scores; ari_unrefined is before the refine stage.")
    return ReportFigure(key, title, _png(figure), " ".join(notes))


def _scores(reader: RunFolderReader) -> dict[str, float]:
    scores = reader.artifact("metrics", "scores")
    if not isinstance(scores, Mapping):
        msg = f"the {reader.side} metrics/scores is a {type(scores).__name__}; expected an object"
        raise FigureUnavailableError(msg)
    values = {}
    for name in SCORE_NAMES:
        value = scores.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
    return values


# -- helpers -----------------------------------------------------------------------


def _reader(readers: Mapping[str, RunFolderReader], side: str) -> RunFolderReader:
    reader = readers.get(side)
    if reader is None:
        msg = f"no {side} run folder was given"
        raise FigureUnavailableError(msg)
    return reader


def _marker_size(n_points: int) -> float:
    """Return a scatter marker area in pt² that shrinks as the number of points grows.

    A named default: 40000 / n, clipped to [1, 30], gives about 11 pt² for the
    3639 spots of a DLPFC slice on a 4-inch panel, where neighbouring spots
    nearly touch.
    """
    return float(np.clip(40_000 / max(n_points, 1), 1.0, 30.0))


def _new_figure(columns: int, *, width_in: float, height_in: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()
