"""The report of the selected patients: every figure and table of the analysis pages, with the filters,
options and data provenance that produced them, as one self-contained HTML file (and, through
icans_core.report_pdf, the same content as a PDF).

    html = build_report(con, AnalysisOptions(), filter_lines=[], app_version=app_version())

The report renders the view definitions of icans_core.content (the same ones the pages render) with each
page's default choices: it never composes a view itself, so page and report cannot differ. The HTML is one
file: inline CSS, figures as inline SVG rendered offline by vl-convert and sanitised (an allow-list of SVG
elements and attributes), no scripts, no external files or fonts. Every text is escaped, and a
Content-Security-Policy forbids scripts and remote loads in case anything ever slipped through.
"""

from __future__ import annotations

import hashlib
import html
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd
import vl_convert as vlc

from icans_core import content, store, survival
from icans_core.cancel import checkpoint
from icans_core.charts.serialise import vega_lite
from icans_core.content.sections import Bullets, Figure, Heading, Note, Numbers, Table, View, display_frame
from icans_core.options import AnalysisOptions

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
NO_FILTER = "No filter: all patients of the cohort"
MAX_ROWS = 50  # patient-level tables beyond this are cut; the CSV export has every row
FIGURE_WIDTH = 640  # for charts that take the page's width in the app and have none of their own

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;
 max-width:1200px;margin:0 auto;padding:1.5rem 2rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.8rem}
.meta{color:#555;margin:.1rem 0}
nav ol{columns:3;padding-left:1.2rem}
.table{overflow-x:auto;margin:.6rem 0}table.data{border-collapse:collapse;font-size:.85rem}
table.data th,table.data td{border:1px solid #ccc;padding:.2rem .45rem;text-align:left;vertical-align:top;
 max-width:28rem}
table.data th{background:#f2f2f2}
table.data tbody tr:nth-child(even){background:#fafafa}
table.provenance td:last-child{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
dl.options{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.options dt{font-weight:600}dl.options dd{margin:0}
.numbers{display:flex;flex-wrap:wrap;gap:1rem;margin:.8rem 0}
.numbers div{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:11rem}
.numbers .value{display:block;font-size:1.5rem;font-weight:600}
.numbers .detail{display:block;color:#555;font-size:.8rem}
figure{margin:1rem 0;overflow-x:auto}figure svg{max-width:100%;height:auto}
.absent{background:#eef4fb;border-left:4px solid #4a7fc1;padding:.5rem .8rem}
.warning{background:#fff6e5;border-left:4px solid #e0a020;padding:.5rem .8rem}
.cut{color:#555;font-style:italic}
.caption,figcaption{color:#444;font-size:.88rem;margin:.3rem 0 .8rem}h4{margin:1rem 0 .3rem}
@media print{body{max-width:none;padding:0}h2{break-before:page}figure,table.data tr{break-inside:avoid}
 nav{display:none}}
"""


def app_version() -> str:
    """The app's version from pyproject.toml ('unknown' when the file is not beside the package)."""
    try:
        with PYPROJECT.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def describe_filters(filter_lines: list[str]) -> list[str]:
    """The cohort filter lines as the report states them (a line saying there is none when empty)."""
    lines = [str(line) for line in filter_lines if str(line).strip()]
    return lines or [NO_FILTER]


def describe_options(options: AnalysisOptions) -> list[tuple[str, str]]:
    """The analysis options in words, as (option, value) pairs, in the order the report lists them."""
    episodes = options.episodes
    return [
        ("Compare by", store.GROUPING_LABELS.get(options.group_by, options.group_by)),
        ("Severe ICANS", f"ASTCT ICANS grade {episodes.severe_grade} or higher starts an episode"),
        ("Resolved", f"first later assessment at ICANS grade {episodes.resolved_grade} or lower"),
        ("CI transform", f"{survival.CI_TRANSFORMS.get(options.ci, options.ci)}, 95%"),
        ("Time origin", episodes.origin_label),
    ]


def report_file_name(label: str, when: datetime) -> str:
    """A file name for the report from the cohort label and the date, e.g. icans-report-sample-2025-06-01.html."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(label).lower()).strip("-")[:60].strip("-") or "cohort"
    return f"icans-report-{slug}-{when:%Y-%m-%d}.html"


@dataclass
class ReportContent:
    """Everything a report states, whatever its format: header, filters, options, provenance, views."""

    label: str
    generated_at: datetime
    app_version: str
    filters: list[str]
    n_patients: int
    options: list[tuple[str, str]]
    loaded_at: str
    sources: pd.DataFrame  # file, size (bytes), SHA-256
    views: list[View]

    @property
    def title(self) -> str:
        return f"CAR-T toxicity cohort report: {self.label}"

    @property
    def generated_text(self) -> str:
        return f"{self.generated_at.astimezone(timezone.utc):%d %b %Y, %H:%M:%S} UTC"


PROVENANCE_NOTE = ("SHA-256 of each file as it was read; compare with the output of sha256sum to check that these "
                   "are the files analysed.")
DEFAULTS_NOTE = ("Each view is shown with its page's default choices; patient-level tables show their first "
                 f"{MAX_ROWS} rows (the page and the CSV export have them all).")


def compose_report(con: duckdb.DuckDBPyConnection, options: AnalysisOptions, filter_lines: list[str],
                   app_version: str, generated_at: datetime | None = None) -> ReportContent:
    """The report's content: the views of icans_core.content with their default options, and what produced them."""
    info = store.cohort_info(con)
    sources = info["sources"].rename(columns={"name": "file", "size_bytes": "size (bytes)", "sha256": "SHA-256"})
    n_patients = len(store.patients_frame(con, options.group_by))
    return ReportContent(str(info["label"]), generated_at or datetime.now(timezone.utc), str(app_version),
                         describe_filters(filter_lines), n_patients, describe_options(options),
                         str(info["loaded_at"]), sources, content.build_all(con, options))


def build_report(con: duckdb.DuckDBPyConnection, options: AnalysisOptions, filter_lines: list[str],
                 app_version: str, generated_at: datetime | None = None) -> str:
    """One self-contained HTML document: filters, options, provenance, then every page's figures and tables."""
    return render_html(compose_report(con, options, filter_lines, app_version, generated_at))


def render_html(report: ReportContent) -> str:
    """The report as one HTML document."""
    body = [
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="meta">Generated {_e(report.generated_text)} · icans-explorer version {_e(report.app_version)}</p>',
        _contents(report.views),
        _section("filters", "Cohort filters", [
            "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in report.filters) + "</ul>",
            _p(f"{report.n_patients:,} {'patient' if report.n_patients == 1 else 'patients'} selected.")]),
        _section("options", "Analysis options", ['<dl class="options">' + "".join(
            f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in report.options) + "</dl>",
            _p(DEFAULTS_NOTE, "caption")]),
        _section("provenance", "Data provenance", [
            '<dl class="options">'
            f"<dt>Cohort</dt><dd>{_e(report.label)}</dd>"
            f"<dt>Loaded</dt><dd>{_e(report.loaded_at)}</dd>"
            f"<dt>Source files</dt><dd>{len(report.sources)}</dd></dl>",
            _table_html(report.sources, classes="data provenance"), _p(PROVENANCE_NOTE)]),
        *(_section(view.name, view.title, [_html(s) for s in view.sections]) for view in report.views),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            # No scripts, no remote loads: only the inline styles this file carries.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _html(section) -> str:
    if isinstance(section, Heading):
        return f"<h3>{_e(section.text)}</h3>"
    if isinstance(section, Note):
        return {"info": _absent, "warning": _warning}.get(section.kind, lambda t: _p(t, "caption" if section.kind == "caption" else ""))(section.text)
    if isinstance(section, Bullets):
        return f"<p><strong>{_e(section.title)}</strong></p><ul>" + "".join(
            f"<li>{_e(item)}</li>" for item in section.items) + "</ul>"
    if isinstance(section, Numbers):
        return '<div class="numbers">' + "".join(
            f'<div><span class="value">{_e(r.value)}</span>{_e(r.measure)}<span class="detail">{_e(r.detail)}</span>'
            "</div>" for r in section.frame.itertuples()) + "</div>"
    if isinstance(section, Figure):
        return _figure(section.chart, section.caption)
    if isinstance(section, Table):
        parts = [f"<h4>{_e(section.collapsed)}</h4>"] if section.collapsed else []
        parts.append(_table(section))
        if section.caption:
            parts.append(_p(section.caption, "caption"))
        return "\n".join(parts)
    raise TypeError(f"not a view section: {type(section).__name__}")


# --- HTML pieces: everything from the data passes through _e or DataFrame.to_html(escape=True) ------------

def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _p(text: str, css: str = "") -> str:
    return f'<p class="{css}">{_e(text)}</p>' if css else f"<p>{_e(text)}</p>"


def _absent(text: str) -> str:
    return f'<p class="absent">{_e(text)}</p>'


def _warning(text: str) -> str:
    return f'<p class="warning">{_e(text)}</p>'


def _section(anchor: str, title: str, parts: list[str]) -> str:
    return f'<section id="{anchor}">\n<h2>{_e(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def _contents(views: list[View]) -> str:
    entries = [("filters", "Cohort filters"), ("options", "Analysis options"), ("provenance", "Data provenance"),
               *((v.name, v.title) for v in views)]
    return "<nav><ol>" + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in entries) + "</ol></nav>"


def _table_html(frame: pd.DataFrame, classes: str = "data") -> str:
    return ('<div class="table">' + frame.to_html(escape=True, index=False, na_rep="", border=0, classes=classes)
            + "</div>")


def _table(table: Table) -> str:
    limit = table.limit if table.limit is not None and len(table.frame) > table.limit else None
    html_table = _table_html(display_frame(table, limit))
    if limit is None:
        return html_table
    more = len(table.frame) - limit
    return html_table + _p(f"Showing the first {limit} of {len(table.frame):,} rows; {more:,} more rows in the page's "
                           f"table and its CSV ({table.stem}.csv).", "cut")


def figure_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart's Vega-Lite spec as the reports render it (a chart without a width of its own gets one)."""
    spec = vega_lite(chart)  # validates once; the dict goes to vl-convert as it is (under the Altair lock)
    if not any(k in spec for k in ("width", "hconcat", "vconcat", "concat", "facet")):
        spec["width"] = FIGURE_WIDTH  # in the app it stretches to the page
    return spec


def _figure(chart: alt.TopLevelMixin, caption: str = "") -> str:
    checkpoint()  # drawing a figure (vl-convert) is the report's longest step
    svg = safe_svg(vlc.vegalite_to_svg(figure_spec(chart)))
    note = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f"<figure>{_scope_ids(svg)}{note}</figure>"


# SVG that a browser draws and cannot run: vl-convert's output keeps only these elements and attributes.
_SVG_NS, _XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
_SVG_ELEMENTS = {"svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan",
                 "defs", "clipPath", "title", "desc", "linearGradient", "radialGradient", "stop", "style"}
_SVG_ATTRIBUTES = {"id", "class", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "d", "width",
                   "height", "viewBox", "transform", "fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity",
                   "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
                   "opacity", "clip-path", "font-family", "font-size", "font-weight", "font-style", "text-anchor",
                   "dominant-baseline", "dx", "dy", "points", "offset", "stop-color", "stop-opacity",
                   "gradientUnits", "gradientTransform", "fx", "fy", "version", "pointer-events", "aria-label",
                   "aria-roledescription", "role", "aria-hidden", "style", "letter-spacing", "paint-order",
                   "vector-effect", "shape-rendering", "text-rendering", "clipPathUnits", "preserveAspectRatio",
                   "xml:space", "display", "visibility", "mix-blend-mode", "font-variant", "baseline-shift"}


def safe_svg(svg: str) -> str:
    """The SVG with every element and attribute outside a drawing allow-list removed (no scripts, no
    event handlers, no links, no foreign content, no CSS that loads anything); text stays text."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", _XLINK_NS)
    root = ET.fromstring(svg)

    def local(name: str) -> str:
        return name.rsplit("}", 1)[-1]

    def clean(element) -> None:
        for child in list(element):
            if not isinstance(child.tag, str) or local(child.tag) not in _SVG_ELEMENTS:
                element.remove(child)
                continue
            if local(child.tag) == "style" and re.search(r"url\(|@import|expression", child.text or "", re.I):
                element.remove(child)
                continue
            clean(child)
        for name in list(element.attrib):
            value = element.attrib[name]
            if local(name) not in _SVG_ATTRIBUTES or (
                    local(name) == "style" and re.search(r"url\((?!#)|@import|expression", value, re.I)):
                del element.attrib[name]

    if local(root.tag) != "svg":
        raise ValueError("a rendered figure is not an SVG")
    clean(root)
    return ET.tostring(root, encoding="unicode")


def _scope_ids(svg: str) -> str:
    # Inline SVGs share the page's id space, and vl-convert numbers clip paths with its renderer's own
    # counter (per process and worker, not per page): two figures could both hold id="clip1", and the
    # second would clip to the first one's rectangle. A prefix per figure keeps every id unique.
    prefix = "f" + hashlib.sha256(svg.encode()).hexdigest()[:10] + "-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
