"""report.html: self-contained page, escaping, figures with and without run folders."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from harness.artifacts.store import RunStore
from harness.report import render_html
from harness.report.figures import ReportFigure
from tests.report._samples import (
    sample_attribution,
    sample_report,
    write_run_folder,
    write_tissue_image,
)

DATA_URI = "data:image/png;base64,"
MAX_HTML_BYTES = 3 * 1024 * 1024


class _Resources(HTMLParser):
    """Collect the tags and the URL-valued attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls.extend(value or "" for name, value in attrs if name in ("src", "href"))


def _resources(page: str) -> _Resources:
    parser = _Resources()
    parser.feed(page)
    return parser


def _assert_self_contained(page: str) -> None:
    resources = _resources(page)
    assert "script" not in resources.tags
    assert "link" not in resources.tags
    for url in resources.urls:
        assert url.startswith(("data:", "#")), f"external resource {url[:80]!r}"
    assert "http://" not in page
    assert "https://" not in page


def test_html_with_run_folders_embeds_figures(tmp_path: Path) -> None:
    image = write_tissue_image(tmp_path / "slice")
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(tmp_path / "candidate", image_path=image, order_seed=4,
                                 centre_scale=0.0025, ari=0.3)
    report = sample_report(figures_data={"reference": reference, "candidate": candidate})

    page = render_html(report)

    _assert_self_contained(page)
    assert page.count(DATA_URI) == 4
    assert 'id="figure-patch_centres"' in page
    assert "Median distance between the sides&#x27; centres" in page


def test_html_without_run_folders_notes_missing(tmp_path: Path) -> None:
    page = render_html(sample_report())

    _assert_self_contained(page)
    assert page.count(DATA_URI) == 1
    assert "Not drawn: no reference run folder was given." in page
    assert 'class="missing" id="figure-domain_maps"' in page


def test_html_with_missing_stages_still_renders(tmp_path: Path) -> None:
    image = write_tissue_image(tmp_path / "slice")
    reference = write_run_folder(tmp_path / "reference", image_path=image, stages=("load",))
    report = sample_report(figures_data={"reference": reference, "candidate": tmp_path / "none"})

    page = render_html(report)

    assert "has no patches stage" in page
    assert "has no cluster stage" in page
    assert page.count(DATA_URI) == 1


def test_html_escapes_report_text() -> None:
    checks = sample_report().checks
    checks[0] = replace(checks[0], diagnosis='<script>alert("x")</script> & more')

    page = render_html(sample_report(checks=checks), figures=[])

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page


def test_html_tables_and_cards() -> None:
    page = render_html(sample_report(), figures=[])

    assert '<tr class="first-divergence">' in page
    assert '<span class="marker">◀ first divergence</span>' in page
    assert page.count('class="status status-fail"') >= 3
    assert "Showing 20 of 3611 offending rows." in page
    assert '<div class="count">patches</div><div class="label">first divergence</div>' in page
    assert "Stages not provided by the candidate, not compared: cluster." in page


def test_html_embeds_given_figures() -> None:
    drawn = ReportFigure("agreement", "Agreement", b"\x89PNG\r\n\x1a\nfake", "a note")
    missing = ReportFigure("scores", "Scores", None, "Not drawn: nothing")

    page = render_html(sample_report(), figures=[drawn, missing])

    assert f'src="{DATA_URI}iVBORw0KGgpmYWtl"' in page
    assert "Not drawn: nothing" in page


def test_html_real_slice_stays_small(tmp_path: Path, dlpfc_151673: Path) -> None:
    positions = pd.read_csv(dlpfc_151673 / "spatial" / "tissue_positions_list.csv", header=None)
    positions = positions[positions[1] == 1]
    barcodes = positions[0].to_numpy(dtype=str)
    spatial = positions[[5, 4]].to_numpy(dtype=np.float64)
    truth = pd.read_csv(dlpfc_151673 / "truth.txt", sep="\t", header=None, index_col=0)[1]
    labels = np.asarray(truth.reindex(barcodes).fillna(""), dtype=str)
    scalefactors = json.loads((dlpfc_151673 / "spatial" / "scalefactors_json.json").read_text())
    scale = float(scalefactors["tissue_lowres_scalef"])
    image = dlpfc_151673 / "spatial" / "tissue_lowres_image.png"

    for side, centre_scale in (("reference", scale), ("candidate", scale * scale)):
        store = RunStore(tmp_path / side)
        store.write_stage("load", {
            "barcodes": barcodes, "spatial": spatial, "labels": labels,
            "scalefactors": {"image_levels": {"lowres": {
                "scale": scale, "shape": [600, 600], "path": str(image)}}},
        })
        store.write_stage("patches", {
            "centers": spatial * centre_scale,
            "image_level": {"level": "lowres", "scale": scale},
        })
        store.write_stage("refine", {"refined": labels})
        store.write_stage("metrics", {"scores": {"ari": 1.0 if side == "reference" else 0.4}})
    report = sample_report(
        figures_data={"reference": tmp_path / "reference", "candidate": tmp_path / "candidate"}
    )

    page = render_html(report)

    assert page.count(DATA_URI) == 4
    assert len(page.encode("utf-8")) < MAX_HTML_BYTES
    assert "Ground truth from the reference load/labels" in page


def test_html_declares_utf8() -> None:
    page = render_html(sample_report(), figures=[])

    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page


def test_html_attribution_title_and_seeds() -> None:
    settings = {"attribution": {"seeds": [4, 5], "confidence": 0.95}}

    page = render_html(
        sample_report(attribution=sample_attribution(), settings=settings), figures=[]
    )

    assert "<title>Harness attribution: 151673" in page
    assert "<h1>Harness attribution: 151673" in page
    assert "over 2 seeds (4, 5)" in page
    assert "Intervals: 95% Student-t" in page
