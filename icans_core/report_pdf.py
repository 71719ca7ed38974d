"""The report as a PDF: the same content as the HTML report (icans_core.report.compose_report), laid out
on A4 pages by fpdf2, offline.

    pdf_bytes = build_report_pdf(con, AnalysisOptions(), filter_lines=[], app_version=app_version())

Figures are rendered by vl-convert to PNG at three times their size (about 290 dpi at the printed size),
scaled to the text width and, if taller than a page, to the page. A figure or a heading never starts at
the foot of a page: it moves to the next page with what follows it; nothing else breaks a page, so no
page is left nearly empty. Tables wrap their cells and shrink their type with the number of columns (a
table of more than MAX_TABLE_COLUMNS is set in parts, each with the first column again), repeat their
header on every page, and patient-level tables are cut as in the HTML report. The text is set in DejaVu
Sans (from matplotlib, which lifelines installs), so labels in any European script, Greek or Cyrillic
print as written; characters the font lacks print as '?', and the PDF stays valid.
Text is text: nothing in a label is ever interpreted (no markup, no links).
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import vl_convert as vlc
from fontTools.ttLib import TTFont
from fpdf import FPDF, FontFace
from fpdf.enums import WrapMode
from PIL import Image

from icans_core.cancel import checkpoint
from icans_core.content.sections import Bullets, Figure, Heading, Note, Numbers, Table, display_frame
from icans_core.options import AnalysisOptions
from icans_core.report import DEFAULTS_NOTE, PROVENANCE_NOTE, ReportContent, compose_report, figure_spec

PNG_SCALE = 3
MARGIN = 15  # mm
FONT = "DejaVu"
PX_MM = 25.4 / 96  # a Vega pixel is a CSS pixel: 1/96 inch
KEEP_WITH_NEXT = 40  # mm: a heading needs this much room below it, or it starts the next page
MAX_TABLE_COLUMNS = 10  # a wider table is set in parts of this many columns (about 18 mm each on A4)
INK, GREY, BLUE, AMBER = (26, 26, 26), (85, 85, 85), (74, 127, 193), (224, 160, 32)


def _font_files() -> dict[str, Path] | None:
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf",
             "I": folder / "DejaVuSans-Oblique.ttf"}
    return files if all(f.exists() for f in files.values()) else None


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 3)
        files = _font_files()
        if files:
            for style, path in files.items():
                self.add_font(FONT, style, str(path))
            self.family = FONT
            self._glyphs = set(TTFont(str(files[""]))["cmap"].getBestCmap())
        else:  # the core font: Latin-1 only
            self.family = "Helvetica"
            self._glyphs = set(range(256))
        self.set_font(self.family, size=10)

    def text_of(self, value: object) -> str:
        """The text with characters the font cannot draw replaced by '?' (and no control characters)."""
        out = []
        for ch in str(value):
            if ch in "\r\n\t":
                out.append(" ")
            elif ord(ch) < 32:
                continue
            else:
                out.append(ch if ord(ch) in self._glyphs else "?")
        return "".join(out)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(self.family, size=7.5)
        self.set_text_color(*GREY)
        number = f"page {self.page_no()} of {{nb}}"
        footer = self.text_of(self.footer_text)
        room = self.width - 28
        while footer and self.get_string_width(footer) > room:  # a long label: cut, never over the number
            footer = footer[:-2].rstrip() + "…"
        self.cell(room, 5, footer, align="L")
        self.cell(0, 5, number, align="R")
        self.set_text_color(*INK)

    @property
    def width(self) -> float:
        return self.w - self.l_margin - self.r_margin

    @property
    def room(self) -> float:
        """mm left on the current page above the bottom margin."""
        return self.h - self.b_margin - self.get_y()

    def para(self, text: str, size: float = 9.5, style: str = "", colour=INK, after: float = 1.5) -> None:
        self.set_font(self.family, style, size)
        self.set_text_color(*colour)
        self.multi_cell(0, size * 0.45, self.text_of(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.set_text_color(*INK)
        self.ln(after)

    def boxed(self, text: str, colour) -> None:
        """An info or warning paragraph with a coloured bar at its left, as in the HTML report."""
        self.set_font(self.family, "", 9)
        top = self.get_y()
        self.set_x(self.l_margin + 3)
        self.multi_cell(self.width - 3, 4.2, self.text_of(text), new_x="LMARGIN", new_y="NEXT", align="L")
        bottom = self.get_y()
        if bottom > top:  # on one page: draw the bar beside it
            self.set_fill_color(*colour)
            self.rect(self.l_margin, top, 1.2, bottom - top, style="F")
        self.ln(2)

    def heading(self, text: str, level: int, keep: float = KEEP_WITH_NEXT) -> None:
        """A heading; it starts a new page unless `keep` mm (what follows it) fit below it."""
        size = {1: 17, 2: 14, 3: 11.5, 4: 10}[level]
        if self.room < keep + size * 0.5 + 6 and self.get_y() > self.t_margin + 1:
            self.add_page()
        self.ln(3 if level > 2 else 4)
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.text_of(text), new_x="LMARGIN", new_y="NEXT", align="L")
        if level == 2:
            self.set_draw_color(200, 200, 200)
            self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
            self.ln(2)
        self.ln(1)
        self.set_font(self.family, "", 10)

    def figure_size(self, png: bytes) -> tuple[float, float]:
        """(width, height) in mm: the figure's own size, narrowed to the text width and shortened to a page."""
        with Image.open(io.BytesIO(png)) as image:
            px_w, px_h = image.size
        w = min(self.width, px_w / PNG_SCALE * PX_MM)
        h = w * px_h / px_w
        page_room = self.h - self.t_margin - self.b_margin - 22  # room for a heading above it
        if h > page_room:  # taller than a page: fit the page
            h = page_room
            w = h * px_w / px_h
        return w, h

    def figure(self, png: bytes, caption: str) -> None:
        w, h = self.figure_size(png)
        if h > self.room:
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin + (self.width - w) / 2, w=w, h=h)
        self.ln(1.5)
        if caption:
            self.para(caption, size=8.5, style="I", colour=GREY, after=3)
        else:
            self.ln(2)

    def table(self, frame, header: bool = True) -> None:
        if len(frame.columns) > MAX_TABLE_COLUMNS:
            # Table 1 of 36 groups was 39 columns of 4 mm: headers broke into lines of two letters ("ch/ar/ac").
            # Set in parts instead, each with the first (naming) column again, so every part reads on its own.
            first, rest, per = frame.columns[0], list(frame.columns[1:]), MAX_TABLE_COLUMNS - 1
            for start in range(0, len(rest), per):
                end = min(start + per, len(rest))
                self.para(f"Columns {start + 2}-{end + 1} of {len(frame.columns)} (with the first column again).",
                          7.5, "I", GREY, after=0.5)
                self.table(frame[[first, *rest[start:end]]], header)
            return
        columns = [str(c) for c in frame.columns]
        rows = [[self.text_of(v) for v in row] for row in frame.itertuples(index=False)]
        n = max(len(columns), 1)
        size = 8 if n <= 6 else 7 if n <= 9 else 6 if n <= 13 else 5.2
        self.set_font(self.family, "", size)
        # Column widths follow the longest word and the typical length, so wide tables wrap instead of overflow.
        lengths = []
        for i, name in enumerate(columns):
            cells = [name] + [r[i] for r in rows[:200]]
            longest_word = max((len(w) for c in cells for w in str(c).split()), default=1)
            mean = sum(len(str(c)) for c in cells) / len(cells)
            lengths.append(max(min(longest_word, 24), min(mean, 60), 3))
        widths = _fit_widths(lengths, self.width, minimum=min(8.0, self.width / n))
        self.set_fill_color(246, 246, 246)
        with self.table_context(widths, size) as table:
            if header:
                heading = table.row()
                for name in columns:
                    heading.cell(self.text_of(name))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value)
        self.ln(1.5)
        self.set_font(self.family, "", 10)

    def table_context(self, widths, size):
        return super().table(col_widths=widths, width=self.width, line_height=size * 0.5, text_align="LEFT",
                             first_row_as_headings=True, padding=0.8, borders_layout="HORIZONTAL_LINES",
                             headings_style=FontFace(emphasis="BOLD", fill_color=(242, 242, 242)),
                             cell_fill_color=(246, 246, 246), cell_fill_mode="ROWS", repeat_headings=1,
                             wrapmode=WrapMode.CHAR)


def _fit_widths(lengths: list[int], width: float, minimum: float) -> list[float]:
    """Column widths in proportion to their text, none below `minimum`, adding up to `width`."""
    widths = [width * L / sum(lengths) for L in lengths]
    for _ in range(len(widths)):
        narrow = [i for i, w in enumerate(widths) if w < minimum]
        if not narrow:
            break
        wide = [i for i in range(len(widths)) if i not in narrow]
        short = sum(minimum - widths[i] for i in narrow)
        for i in narrow:
            widths[i] = minimum
        spare = sum(widths[i] for i in wide)
        for i in wide:
            widths[i] -= short * widths[i] / spare
    return widths


def render_pdf(report: ReportContent) -> bytes:
    """The report as PDF bytes."""
    pdf = _Document(f"{report.title} · generated {report.generated_text} · version {report.app_version}")
    pdf.set_title(pdf.text_of(report.title))
    pdf.set_creator("icans-explorer")
    pdf.add_page()
    pdf.heading(report.title, 1)
    pdf.para(f"Generated {report.generated_text} · icans-explorer version {report.app_version}", 9, colour=GREY)

    pdf.heading("Cohort filters", 2)
    for line in report.filters:
        pdf.para(f"•  {line}", 9.5, after=0.5)
    pdf.para(f"{report.n_patients:,} {'patient' if report.n_patients == 1 else 'patients'} selected.", 9.5, after=2)
    pdf.heading("Analysis options", 2)
    pdf.table(pd.DataFrame(report.options, columns=["option", "value"]))
    pdf.para(DEFAULTS_NOTE, 8.5, "I", GREY)
    pdf.heading("Data provenance", 2)
    pdf.para(f"Cohort: {report.label}. Loaded: {report.loaded_at}. Source files: {len(report.sources)}.", 9.5)
    pdf.table(report.sources.astype(str))
    pdf.para(PROVENANCE_NOTE, 8.5, "I", GREY)

    for view in report.views:
        sections = [_prepared(s) for s in view.sections]
        pdf.heading(view.title, 2, keep=_height(pdf, sections[:2]))
        for i, section in enumerate(sections):
            if isinstance(section, Heading):
                pdf.heading(section.text, 3, keep=_height(pdf, sections[i + 1:i + 2]))
            else:
                _section(pdf, section)
    return bytes(pdf.output())


def _prepared(section):
    # A figure is rendered once, up front, so a heading can tell whether it fits below it.
    if isinstance(section, Figure):
        return (section, vlc.vegalite_to_png(figure_spec(section.chart), scale=PNG_SCALE))
    return section


def _height(pdf: _Document, following: list) -> float:
    """Room (mm) the start of what follows a heading needs on the same page."""
    if following and isinstance(following[0], tuple):
        return min(pdf.figure_size(following[0][1])[1], pdf.h - pdf.t_margin - pdf.b_margin - 30)
    if following and isinstance(following[0], Heading):
        return KEEP_WITH_NEXT + 8
    return KEEP_WITH_NEXT


def _section(pdf: _Document, section) -> None:
    if isinstance(section, Heading):
        pdf.heading(section.text, 3)
    elif isinstance(section, Note):
        if section.kind == "info":
            pdf.boxed(section.text, BLUE)
        elif section.kind == "warning":
            pdf.boxed(section.text, AMBER)
        else:
            pdf.para(section.text, 8.5 if section.kind == "caption" else 9.5,
                     "I" if section.kind == "caption" else "", GREY if section.kind == "caption" else INK)
    elif isinstance(section, Bullets):
        pdf.para(section.title, 9.5, "B", after=0.5)
        for item in section.items:
            pdf.para(f"•  {item}", 8.5, after=0.5)
        pdf.ln(1.5)
    elif isinstance(section, Numbers):
        frame = section.frame[["measure", "value", "detail"]]
        pdf.table(frame.astype(str))
    elif isinstance(section, tuple):  # a figure and its PNG (_prepared)
        checkpoint()
        figure, png = section
        pdf.figure(png, figure.caption)
    elif isinstance(section, Table):
        if section.collapsed:
            pdf.heading(section.collapsed, 4)
        limit = section.limit if section.limit is not None and len(section.frame) > section.limit else None
        if section.frame.empty:
            pdf.para("(no rows)", 8.5, "I", GREY)
        else:
            pdf.table(display_frame(section, limit))
        if limit is not None:
            more = len(section.frame) - limit
            pdf.para(f"Showing the first {limit} of {len(section.frame):,} rows; {more:,} more rows in the page's "
                     f"table and its CSV ({section.stem}.csv).", 8.5, "I", GREY)
        if section.caption:
            pdf.para(section.caption, 8.5, "I", GREY, after=3)
    else:
        raise TypeError(f"not a view section: {type(section).__name__}")


def build_report_pdf(con: duckdb.DuckDBPyConnection, options: AnalysisOptions, filter_lines: list[str],
                     app_version: str, generated_at: datetime | None = None) -> bytes:
    """The PDF report: filters, options, provenance, then every page's figures and tables."""
    return render_pdf(compose_report(con, options, filter_lines, app_version, generated_at))


def report_pdf_file_name(html_name: str) -> str:
    """The PDF's file name beside the HTML one (…-2025-06-01.pdf)."""
    return html_name[:-5] + ".pdf" if html_name.endswith(".html") else html_name + ".pdf"

