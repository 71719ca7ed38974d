"""The data dictionary and the downloadable .xlsx upload template, both generated from the schema."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from icans_core import schema as S
from icans_core.spreadsheet_safe import neutralise_formulas

DICTIONARY_SHEET, VOCABULARY_SHEET = S.INFO_SHEETS


def data_dictionary() -> pd.DataFrame:
    """Every contract column. Columns: table, column, type, required, allowed, meaning."""
    rows = []
    for spec in S.TABLES.values():
        for col in spec.columns:
            rows.append({
                "table": spec.name + ("" if spec.required else " (optional)"),
                "column": col.name,
                "type": col.type_label,
                "required": "yes" if col.required else "no",
                "allowed": _allowed(col),
                "meaning": col.meaning,
            })
    return pd.DataFrame(rows)


def _allowed(col: S.ColumnSpec) -> str:
    if col.allowed:
        return ", ".join(col.allowed)
    if col.name == "product":
        return ", ".join(p.short for p in S.PRODUCTS) + " (brand and generic names accepted)"
    if col.name == "route":
        return ", ".join(S.ROUTES)
    if col.name == "dose_unit":
        return ", ".join(S.DOSE_UNITS)
    if col.kind == "integer" and col.minimum is not None:
        return f"{col.minimum:g} to {col.maximum:g}"
    if col.minimum is not None:
        upper = f" to {col.maximum:g}" if col.maximum is not None else ""
        return f">= {col.minimum:g}{upper}" if not upper else f"{col.minimum:g}{upper}"
    if col.kind == "boolean":
        return "true / false"
    return ""


def vocabularies() -> pd.DataFrame:
    """Canonical terms and what normalises to them. Columns: vocabulary, canonical, detail, accepted."""
    rows = []
    for p in S.PRODUCTS:
        rows.append({"vocabulary": "product", "canonical": p.short,
                     "detail": f"{p.target}, {p.costimulatory_domain}", "accepted": f"{p.generic}; {p.brand}"})
    for agent, (agent_class, synonyms) in S.AGENTS.items():
        factor = S.DEXAMETHASONE_EQUIVALENTS.get(agent)
        detail = agent_class + (f"; {factor:g} mg dexamethasone per mg" if factor is not None else "")
        rows.append({"vocabulary": "agent", "canonical": agent, "detail": detail, "accepted": "; ".join(synonyms)})
    for analyte, (unit, synonyms) in S.ANALYTES.items():
        rows.append({"vocabulary": "analyte", "canonical": analyte, "detail": unit, "accepted": "; ".join(synonyms)})
    return pd.DataFrame(rows)


def steroid_equivalents() -> pd.DataFrame:
    """The dexamethasone-equivalence table. Columns: agent, dexamethasone_mg_per_mg, equipotent_mg, source."""
    return pd.DataFrame([
        {"agent": agent, "dexamethasone_mg_per_mg": factor, "equipotent_mg": round(0.75 / factor, 4),
         "source": S.STEROID_EQUIVALENCE_SOURCE}
        for agent, factor in S.DEXAMETHASONE_EQUIVALENTS.items()
    ])


def example_tables() -> dict[str, pd.DataFrame]:
    """One consistent example row per table (patient P001), from the schema's examples."""
    return {name: pd.DataFrame([{c.name: c.example for c in spec.columns}]) for name, spec in S.TABLES.items()}


def template_bytes() -> bytes:
    """The upload template: a sheet per table with an example row, then the dictionary sheets."""
    buffer = io.BytesIO()
    sheets = {**example_tables(), DICTIONARY_SHEET: data_dictionary(), VOCABULARY_SHEET: vocabularies()}
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            # the content is ours, but openpyxl stores any text starting with "=" as a formula:
            # a future synonym or meaning must not become one
            neutralise_formulas(frame).to_excel(writer, sheet_name=name, index=False)
        for sheet in writer.book.worksheets:
            for column_cells in sheet.columns:
                width = max(len(str(c.value or "")) for c in column_cells)
                sheet.column_dimensions[column_cells[0].column_letter].width = min(max(width + 2, 10), 60)
    return buffer.getvalue()


def write_template(path: str | Path) -> Path:
    """Write the template workbook to disk."""
    path = Path(path)
    path.write_bytes(template_bytes())
    return path
