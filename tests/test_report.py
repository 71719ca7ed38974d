"""The HTML report: its figures, headings, provenance, options and filters, escaping, no remote
resources, cohorts without optional tables, and `python -m icans_core report`."""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
import tomllib
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from icans_core import store
from icans_core.episodes import EpisodeOptions
from icans_core.ingest import load_paths, load_sources
from icans_core.options import AnalysisOptions
from icans_core.report import app_version, build_report, report_file_name
from tests.cohorts import copy_tables, csv_text, sources, with_cell

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
HOSTILE = "<script>alert(1)</script>"
WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
FILTERS = ["Product: axi-cel, tisa-cel", "Age 18 to 65 years"]

# Figures the pages draw with their default choices on the sample (it has labs and interventions).
SAMPLE_FIGURES = {"overview": 1,  # maximum grades
                  "swimlanes": 2,  # clinical course, grade change after IVIG
                  "cytokines": 3,  # IL-6, IFN-gamma, IL-10
                  "resolution": 2,  # Kaplan-Meier with at-risk table (one figure), cumulative incidence
                  "treatments": 2,  # steroid exposure, when each class was first given
                  "expansion": 2}  # CAR-T cell curves, Cmax per patient
HEADINGS = {
    "h2": ["Cohort filters", "Analysis options", "Data provenance", "Overview", "Swimlanes", "Cytokines",
           "Resolution", "Treatments", "Expansion"],
    "h3": ["Patient characteristics per group (Table 1)", "Maximum CRS and ICANS grade per group",
           "This cohort beside published series", "Clinical course per patient", "Grade change after IVIG",
           "IL-6", "IFN-gamma", "IL-10", "Medians per group and day", "Kaplan-Meier: time to resolution",
           "Median time to resolution", "Log-rank test", "Gray's test",
           "Cumulative incidence of resolution (death as a competing event)",
           "Adjusted comparison (Cox; group and no covariates)", "Episodes",
           "Systemic steroid exposure per group", "Dexamethasone equivalents used",
           "Interventions received per class and group", "Expansion curves", "Cmax, Tmax and AUC0-28 per patient",
           "Cmax, Tmax and AUC0-28 per group, with tests"],
}


def connect(tables: dict | None = None, label: str | None = None):
    result = load_sources(sources(tables), label=label)
    assert result.ok, [p.problem for p in result.errors]
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


def sections(document: str) -> dict[str, str]:
    """Each <section id=...> of the report, by id."""
    return dict(re.findall(r'<section id="([a-z]+)">(.*?)</section>', document, flags=re.S))


def headings(document: str, level: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(rf"<{level}>(.*?)</{level}>", document, flags=re.S)]


class Tags(HTMLParser):
    """Every start tag of a document, as a browser's tokenizer sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def start_tags(document: str) -> list[tuple[str, list]]:
    parser = Tags()
    parser.feed(document)
    return parser.tags


@pytest.fixture(scope="module")
def sample_report() -> str:
    result = load_paths([SAMPLE], label="Sample cohort (synthetic)")
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return build_report(con, AnalysisOptions(), FILTERS, "9.8.7", generated_at=WHEN)


# --- on the sample ---------------------------------------------------------------------------------

def test_one_svg_per_expected_figure(sample_report):
    found = sections(sample_report)
    assert {name: part.count("<svg") for name, part in found.items() if name in SAMPLE_FIGURES} == SAMPLE_FIGURES
    assert sample_report.count("<svg") == sum(SAMPLE_FIGURES.values())
    assert sample_report.count("<svg") == sample_report.count("</svg>")


def test_every_section_heading_in_order(sample_report):
    assert headings(sample_report, "h2") == HEADINGS["h2"]
    assert headings(sample_report, "h3") == HEADINGS["h3"]
    assert headings(sample_report, "h1") == ["CAR-T toxicity cohort report: Sample cohort (synthetic)"]


def test_title_time_and_version(sample_report):
    assert "Generated 04 Mar 2026, 05:06:07 UTC" in sample_report
    assert "version 9.8.7" in sample_report
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert app_version() == tomllib.load(f)["project"]["version"]


def test_provenance_names_every_source_file_with_its_size_and_sha256(sample_report):
    provenance = sections(sample_report)["provenance"]
    files = sorted(SAMPLE.glob("*.csv"))
    assert [f.name for f in files] == ["interventions.csv", "labs.csv", "observations.csv", "patients.csv",
                                       "toxicity.csv"]
    for path in files:
        data = path.read_bytes()
        row = re.search(rf"<tr>\s*<td>{re.escape(path.name)}</td>\s*<td>(\d+)</td>\s*<td>([0-9a-f]+)</td>",
                        provenance)
        assert row, f"no provenance row for {path.name}"
        assert int(row.group(1)) == len(data)
        assert row.group(2) == hashlib.sha256(data).hexdigest()
    assert "Sample cohort (synthetic)" in provenance


def test_filter_lines_and_default_options_are_stated(sample_report):
    filters = html.unescape(sections(sample_report)["filters"])
    assert all(f"<li>{line}</li>" in filters for line in FILTERS)
    assert "No filter" not in filters
    options = html.unescape(sections(sample_report)["options"])
    for name, value in [("Compare by", "Group (study arm, else product)"),
                        ("Severe ICANS", "ASTCT ICANS grade 3 or higher starts an episode"),
                        ("Resolved", "first later assessment at ICANS grade 1 or lower"),
                        ("CI transform", "log (R survival's default), 95%"),
                        ("Time origin", "severe-ICANS onset")]:
        assert f"<dt>{name}</dt><dd>{value}</dd>" in options


def test_overview_has_table_1_tests_and_citations(sample_report):
    overview = html.unescape(sections(sample_report)["overview"])
    patients = pd.read_csv(SAMPLE / "patients.csv")
    assert f'<span class="value">{len(patients):,}</span>Patients' in overview
    for test in ("Fisher's exact", "Kruskal-Wallis"):
        assert f"{test}: " in overview
    assert "Katsin et al., Front Immunol 2024;15:1380451" in overview
    assert "Mokhtari et al., Int J Mol Sci 2025;26(8):3904" in overview
    assert "Strati et al. 2020" in overview  # a published series row


def test_resolution_has_the_at_risk_table_medians_and_log_rank(sample_report):
    resolution = html.unescape(sections(sample_report)["resolution"])
    assert "Number at risk" in resolution  # the table under the Kaplan-Meier curve
    assert "<th>median_days</th>" in resolution
    assert "<td>log-rank</td>" in resolution


def test_long_patient_tables_are_cut_and_say_how_many_rows_are_left(sample_report):
    toxicity = pd.read_csv(SAMPLE / "toxicity.csv")
    patients = pd.read_csv(SAMPLE / "patients.csv")
    severe = toxicity.loc[toxicity["icans_grade"] >= 3, "patient_id"].nunique()
    assert severe > 50, "the sample should have more than 50 severe episodes for this test"
    assert (f"Showing the first 50 of {severe} rows; {severe - 50} more rows in the page&#x27;s table and its CSV "
            "(resolution-episodes.csv)." in sample_report)
    assert (f"Showing the first 50 of {len(patients)} rows; {len(patients) - 50} more rows in the page&#x27;s table "
            "and its CSV (steroid-exposure-per-patient.csv)." in sample_report)
    episodes = sections(sample_report)["resolution"].split("<h3>Episodes</h3>")[1]
    assert episodes.count("<tr") == 1 + 50  # header and 50 rows


def test_no_external_resources(sample_report):
    lowered = sample_report.lower()
    assert 'src="http' not in lowered and "<link" not in lowered and "<script" not in lowered
    assert "@import" not in lowered
    ids = re.findall(r'\bid="([^"]+)"', sample_report)
    assert len(ids) == len(set(ids)), "inline SVGs share the page's ids: each must be unique"
    local = re.findall(r"url\(([^)]*)\)", sample_report)
    assert local and all(u.startswith("#") and u[1:] in ids for u in local), local[:5]  # clip paths, in-page
    tags = start_tags(sample_report)
    assert not {t for t, _ in tags} & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    references = [v for _, attrs in tags for k, v in attrs if k in ("src", "href", "xlink:href")]
    assert references and all(v.startswith("#") for v in references), references  # in-page anchors only


# --- tiny cohorts --------------------------------------------------------------------------------------

def test_hostile_labels_are_escaped_never_tags():
    tables = with_cell("patients", 2, "group", HOSTILE)
    tables = with_cell("patients", 3, "group", '<img src=x onerror="alert(2)">', tables)
    document = build_report(connect(tables, label=HOSTILE), AnalysisOptions(), [HOSTILE], "1.0")
    assert "<script" not in document.lower() and "<img" not in document.lower()
    assert not {t for t, _ in start_tags(document)} & {"script", "img"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sections(document)["filters"]  # the filter line
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sections(document)["provenance"]  # the label
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sections(document)["overview"]  # the group, in Table 1
    # grades, swimlanes, after IVIG, IL-6, Kaplan-Meier, incidence, steroids, intervention timing
    assert document.count("<svg") == 8


def test_without_labs_or_interventions_the_sections_say_so():
    tables = {name: rows for name, rows in copy_tables().items() if name in ("patients", "toxicity")}
    document = build_report(connect(tables), AnalysisOptions(), [], "1.0")
    found = {name: html.unescape(part) for name, part in sections(document).items()}
    assert "No filter: all patients of the cohort" in found["filters"]
    assert "records no interventions" in found["swimlanes"]
    assert "no cytokine or serum-marker measurements" in found["cytokines"]
    assert "no recorded interventions" in found["treatments"]
    assert "no CAR-T cell counts" in found["expansion"]
    assert [found[s].count("<svg") for s in SAMPLE_FIGURES] == [1, 1, 0, 2, 0, 0]


@pytest.mark.parametrize("label", [
    "see javascript: notes", '<script>alert("x")</script>', "javascript:alert(1)", "\"quoted\" & 'single'",
    "Ünïcødé · Ωmega · 漢字 · 🧪", "<img src=x onerror=alert(1)>", "a\nb\tc"])
def test_any_label_builds_a_valid_report(label):
    """A cohort label or a group named with markup, 'javascript:', quotes or any Unicode builds a report that
    shows it as text (issue 10: 'see javascript: notes' made the report refuse to build)."""
    tables = with_cell("patients", 2, "group", label)
    document = build_report(connect(tables, label=label), AnalysisOptions(), [f"Group: {label}"], "1.0")
    tags = start_tags(document)
    assert not {t for t, _ in tags} & {"script", "img", "iframe", "object", "embed", "foreignobject", "image", "use"}
    assert not [k for _, attrs in tags for k, _ in attrs if k.startswith("on")]
    assert all(v.startswith("#") for _, attrs in tags for k, v in attrs if k in ("href", "xlink:href", "src"))
    shown = html.unescape(sections(document)["filters"])
    assert f"Group: {label}" in shown
    assert document.count("<svg") == 8


def test_options_are_stated_and_used():
    options = AnalysisOptions(episodes=EpisodeOptions(severe_grade=2, resolved_grade=0, origin="corticosteroid"),
                              group_by="disease", ci="log-log")
    document = html.unescape(build_report(connect(), options, [], "1.0"))
    for value in ("Disease", "ASTCT ICANS grade 2 or higher starts an episode",
                  "first later assessment at ICANS grade 0 or lower",
                  "log-log (lifelines' default, exponential Greenwood), 95%", "first corticosteroid dose after onset"):
        assert f"<dd>{value}</dd>" in document
    overview = sections(document)["overview"]
    assert "Severe ICANS: ASTCT grade 2 or higher; resolved at grade 0 or lower" in overview
    assert "DLBCL (n=1)" in overview and "FL (n=1)" in overview  # Table 1 grouped by disease


def test_file_name_from_label_and_date():
    assert report_file_name("Sample cohort (synthetic)", WHEN) == "icans-report-sample-cohort-synthetic-2026-03-04.html"
    assert report_file_name("../<x>", WHEN) == "icans-report-x-2026-03-04.html"


# --- the command line ----------------------------------------------------------------------------------

def report_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icans_core", "report", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def write_cohort(folder: Path, tables: dict) -> Path:
    folder.mkdir(parents=True)
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text(csv_text(rows))
    return folder


def test_cli_writes_the_report(tmp_path):
    cohort = write_cohort(tmp_path / "cohort", copy_tables())
    out = tmp_path / "out" / "report.html"
    done = report_cli(str(cohort), "--out", str(out), "--severe-grade", "2", "--group-by", "disease")
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(out) in done.stdout
    document = out.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    assert "ASTCT ICANS grade 2 or higher starts an episode" in document
    for path in sorted(cohort.glob("*.csv")):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in document
    assert document.count("<svg") == 8


def test_cli_writes_a_pdf_report(tmp_path):
    cohort = write_cohort(tmp_path / "cohort", copy_tables())
    out = tmp_path / "report.pdf"
    done = report_cli(str(cohort), "--out", str(out), "--pdf", "--product", "axi-cel")
    assert done.returncode == 0, done.stdout + done.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-32:]
    from pypdf import PdfReader
    text = " ".join(p.extract_text() for p in PdfReader(out).pages)
    assert "product: axi-cel" in text
    other = tmp_path / "report-format.pdf"
    assert report_cli(str(cohort), "--out", str(other), "--format", "pdf").returncode == 0
    assert other.read_bytes().startswith(b"%PDF-")


def test_cli_refuses_a_broken_cohort_and_writes_nothing(tmp_path):
    cohort = write_cohort(tmp_path / "cohort", with_cell("toxicity", 3, "icans_grade", "9"))
    out = tmp_path / "out" / "report.html"
    done = report_cli(str(cohort), "--out", str(out))
    assert done.returncode == 2
    assert "toxicity.csv, row 3, column icans_grade: Must be 5 or less" in done.stdout
    assert not out.exists() and not out.parent.exists()


def test_cli_refuses_impossible_options_and_writes_nothing(tmp_path):
    out = tmp_path / "report.html"
    done = report_cli("data/sample", "--out", str(out), "--severe-grade", "2", "--resolved-grade", "2")
    assert done.returncode == 2
    assert "resolved grade < severe grade" in done.stdout
    assert not out.exists()
