"""Validate raw tables against the contract and turn them into typed, normalised tables.

Three steps, each driven by `schema.TABLES`:
1. structure: required tables and columns present, no repeated or unknown columns;
2. types: every cell parsed by its column's kind (number, integer, boolean, text);
   calendar dates are refused with a message to convert them to days since infusion;
3. rules: pandera schemas built from the specs check ranges, vocabularies,
   uniqueness, known patients and the cross-column rules, lazily, so that every
   failure is reported at once. A second pandera schema holds the warnings.
Every problem names the file or sheet, the spreadsheet row, the column and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import get_close_matches

import numpy as np
import pandas as pd
import pandera.backends.pandas.builtin_checks  # noqa: F401  (registers the built-in checks for pandas data)
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pa_compute
from pandera.pandas import Check, Column, DataFrameSchema

from icans_core import consistency, deidentify, derived
from icans_core.cancel import checkpoint
from icans_core.distinct import map_distinct
from icans_core import schema as S
from icans_core.problems import Problem, capped, error, lookalike_note, quoted, visible, warning, without_lookalikes
from icans_core.readers import TEXT, RawTable

# Columns added to the contract's columns by normalisation (the original is kept).
DERIVED_COLUMNS: dict[str, list[str]] = {
    "patients": ["product_as_given", "target", "costimulatory_domain"],
    "toxicity": [],
    "interventions": ["agent_as_given", "agent_class"],
    "labs": ["analyte_as_given", "value_as_given", "unit_as_given"],
}
# Issue 13: where each grade came from (recorded, episode form, observations), and the optional tables.
DERIVED_COLUMNS["toxicity"] = list(derived.SOURCE_COLUMNS)
DERIVED_COLUMNS.update({"observations": [], "toxicity_episodes": []})

_DATE_PATTERN = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2024-03-01, 2024/3/1
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"  # 01/03/2024, 1.3.24
    r"|\d{1,2}[-\s][A-Za-z]{3,9}[-\s,]*\d{2,4}"  # 1-Mar-2024, 1 March 2024
    r"|[A-Za-z]{3,9}\s+\d{1,2},?\s+\d{4})"  # March 1, 2024
)
DAYS_ADVICE = ("Record time as days since CAR-T infusion (day 0 = infusion; 14.25 = day 14, 06:00) instead of "
               "dates." + deidentify.PREPARE_HINT)
DATE_PROBLEM = "Looks like a calendar date. " + DAYS_ADVICE


@dataclass
class _Table:
    """A table between steps: typed values, the raw cells, and cells already reported."""

    spec: S.TableSpec
    raw: RawTable
    frame: pd.DataFrame
    reported: set[tuple[int, str]]
    # cells already warned as looking like a known value but for look-alike letters (row, column) -> that value:
    # their warning names the characters and the value, so `consistency.variant_spellings` does not repeat it
    lookalikes: dict[tuple[int, str], str] = field(default_factory=dict)


def validate_tables(raw_tables: list[RawTable]) -> tuple[dict[str, pd.DataFrame] | None, list[Problem]]:
    """Typed, normalised tables when there is no error (else None), and every problem found."""
    problems: list[Problem] = []
    present = {t.table for t in raw_tables}
    for spec in S.TABLES.values():
        if spec.required and spec.name not in present:
            problems.append(error("(cohort)", f"The required table '{spec.name}' is missing. Add a "
                                  f"sheet or file named '{spec.name}'."))
    tables: dict[str, _Table] = {}
    for raw in raw_tables:
        checkpoint()
        spec = S.TABLES[raw.table]
        # direct identifiers are refused before anything else is looked at (or stored)
        problems += deidentify.screen(raw, {c.name for c in spec.columns if c.kind == "text"})
        structure = _check_structure(raw, spec)
        problems += structure
        if any(p.severity == "error" for p in structure) or raw.table in tables:
            continue
        table, parse_problems = _parse(raw, spec)
        problems += parse_problems
        tables[raw.table] = table

    for table in tables.values():
        _normalise(table)
    if "interventions" in tables:
        problems += _unknown_agents(tables["interventions"])
    if "patients" in tables:
        problems += _lookalike_products(tables["patients"])
    patient_ids = _patient_ids(tables)
    for table in tables.values():
        checkpoint()
        problems += _apply_rules(table, _rules(table.spec, patient_ids), "error")
        problems += _apply_rules(table, _warning_rules(table.spec), "warning")
    problems += consistency.check_across_rows(tables)  # duplicates, same-day conflicts, negatives, after death
    if "toxicity_episodes" in tables:
        problems += _episode_treatments(tables)

    if any(p.severity == "error" for p in problems):
        return None, problems
    return {name: _finish(t) for name, t in tables.items()}, problems


# --- 1. structure ---------------------------------------------------------------------

def _check_structure(raw: RawTable, spec: S.TableSpec) -> list[Problem]:
    problems = []
    columns = list(raw.frame.columns)
    for name in sorted({c for c in columns if columns.count(c) > 1}):
        problems.append(error(raw.source, f"The column '{name}' appears more than once in the header.",
                              row=1, column=name))
    for name in spec.required_columns:
        if name not in columns:
            close = get_close_matches(name, [c for c in columns if c not in spec.column_names], n=1)
            hint = f" (found '{close[0]}': rename it to '{name}')" if close else ""
            problems.append(error(raw.source, f"The required column '{name}' is missing{hint}.",
                                  row=1, column=name))
    if spec.name == "patients" and raw.frame.empty:
        # a header with nothing under it would load an empty cohort in place of the user's
        problems.append(error(raw.source, "The patients table has no rows: a cohort needs at least "
                                          "one patient.", row=2))
    absent = [c for c in spec.column_names if c not in columns]
    for name in columns:
        if name not in spec.column_names:
            label = visible(name) if name else "(blank header)"
            problems.append(warning(raw.source, "Column ignored: it is not part of the data format "
                                    f"for the '{spec.name}' table.{_lookalike_column(raw, name, absent)}",
                                    row=1, column=label))
    return problems


def _lookalike_column(raw: RawTable, name: str, absent: list[str]) -> str:
    """For an ignored column that looks like a contract column this file lacks ('death day', 'ICANS-grade'):
    which one, and what is lost, so a misspelt header never drops its values behind a generic word."""
    key = re.sub(r"[\s\-.]+", "_", without_lookalikes(name).strip().casefold())
    close = [key] if key in absent else get_close_matches(key, absent, n=1, cutoff=0.75)
    if not close:
        return ""
    filled = int(raw.frame[name].notna().sum()) if name in raw.frame.columns and raw.frame[name].ndim == 1 else 0
    if not filled:
        return f" It looks like '{close[0]}', which this file does not have: rename it to load its values."
    return (f" It looks like '{close[0]}', which this file does not have: its {filled:,} value(s) are NOT "
            f"loaded. Rename the column to '{close[0]}' to load them.")


# --- 2. types -----------------------------------------------------------------------------

def _parse(raw: RawTable, spec: S.TableSpec) -> tuple[_Table, list[Problem]]:
    frame = pd.DataFrame(index=raw.frame.index)
    problems: list[Problem] = []
    reported: set[tuple[int, str]] = set()
    for col in spec.columns:
        checkpoint()  # a column of up to millions of cells at a time
        cells = raw.frame[col.name] if col.name in raw.frame.columns else pd.Series(
            pd.NA, index=raw.frame.index, dtype=TEXT)
        cells, word_problems = _missing_words(cells, col, raw.source)
        problems += word_problems
        if col.required and col.kind != "text" and word_problems:  # refused there, every such cell
            was_word = raw.frame[col.name].notna() & cells.isna() if col.name in raw.frame.columns else cells.isna()
            reported |= {(int(r), col.name) for r in cells.index[was_word.to_numpy(dtype=bool)]}
        values, failures = _parse_column(cells, col.kind, raw.decimal_comma)
        if col.kind in ("number", "integer") and raw.decimal_comma:
            failures = _ambiguous_notation(cells).combine_first(failures)
        if S.is_day(col):
            failures = failures.combine_first(_not_days(values))
        values = values.mask(values.index.isin(failures.index)) if len(failures) else values
        frame[col.name] = values
        if col.kind == "number":
            problems += _more_digits_than_kept(values, cells, col.name, raw.source)
        for row, problem in failures.items():
            problems.append(error(raw.source, problem, row=int(row), column=col.name,
                                  value=cells.at[row]))
            reported.add((int(row), col.name))
    return _Table(spec, raw, frame, reported), problems


# A word that means "no value" in a spreadsheet. In a number or true/false column it is read as an
# empty cell (documented). In a text column it may be a value: a group literally named "None" or "NA"
# must not become "no group" (its patients would silently move to their product's group), so it is
# kept as given, with a warning. Only a closed vocabulary (sex: F, M, other) cannot hold it: there it
# is read as missing, with a warning.
def _missing_words(cells: pd.Series, col: S.ColumnSpec, source: str) -> tuple[pd.Series, list[Problem]]:
    words = cells.str.lower().isin(S.MISSING_WORDS).fillna(False).astype(bool)  # Arrow, vectorised
    if not words.any():
        return cells, []
    if col.kind != "text":
        if not col.required:
            return cells.mask(words), []
        # "Required: this cell is empty" would be wrong: the cell holds a word that means no value
        found = cells[words]
        problems = [error(source, f"Required: {quoted(v)} is a word for a missing value (read as an empty "
                                  "cell), and this column needs a value in every row.", row=int(r),
                          column=col.name, value=v) for r, v in found.items()]
        return cells.mask(words), capped(problems, source, col.name)
    if col.allowed:
        message = (f"Read as missing: '{{value}}' is not one of {', '.join(col.allowed)}, so it is taken to "
                   "mean no value. Leave the cell empty when it is unknown.")
        kept = cells.mask(words)
    else:
        what = ("a group of that name; leave the cell empty to group the patient by product"
                if col.name == "group" else "leave the cell empty if there is no value")
        message = (f"Kept as the text '{{value}}', not read as a missing value ({what}).")
        kept = cells
    found = cells[words]
    problems = [warning(source, message.format(value=v), row=int(r), column=col.name, value=v)
                for r, v in found.items()]
    return kept, capped(problems, source, col.name)


# In a semicolon CSV the comma is the decimal mark (14,25 = 14.25), and a dot is read as a decimal point
# too (1.5 = 1.5). Either mark is ambiguous where it could group thousands, i.e. where 1 to 3 digits (not
# starting with 0) are followed by groups of exactly three: German "1.500" is one thousand five hundred but
# would read as 1.5, and English "1,000" is one thousand but would read as 1. Both are refused, the same
# rule for both marks, and so is a number with both marks (1.500,25 or 1,500.25). A group after a leading 0
# cannot be thousands (0,125 and 0.125 are 0.125), nor can a group of other than three digits (1,5, 14.25).
_THOUSANDS_DOT = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+$")
_BOTH_MARKS = re.compile(r"^[+-]?[\d.,]*\d[\d.,]*$")
AMBIGUOUS = "Ambiguous number in a semicolon-separated file, where the comma is the decimal mark: "


def _ambiguous_notation(text: pd.Series) -> pd.Series:
    """For a semicolon CSV: cells whose number could be read two ways, with the problem (by row)."""
    present = text.dropna()
    if present.empty:
        return pd.Series(dtype=object)
    dots = present.str.fullmatch(_THOUSANDS_DOT.pattern).fillna(False).astype(bool)
    commas = present.str.fullmatch(_THOUSANDS_COMMA.pattern).fillna(False).astype(bool)
    both = (present.str.contains(".", regex=False) & present.str.contains(",", regex=False)
            & present.str.fullmatch(_BOTH_MARKS.pattern)).fillna(False).astype(bool)
    found = present[dots | commas | both].astype(object)
    return pd.Series({row: _ambiguity(value, both.at[row], commas.at[row]) for row, value in found.items()},
                     dtype=object)


def _ambiguity(value: str, both: bool, comma: bool) -> str:
    if both:
        return (f"{AMBIGUOUS}'{value}' has both a dot and a comma, so one of them could be a thousands separator "
                "(German 1.500,25 = English 1,500.25). Write it without a thousands separator, with a comma for "
                "the decimals: 1500,25.")
    mark = "," if comma else "."
    thousands = value.replace(mark, "")
    if value.count(mark) > 1:  # 1.000.000 or 1,000,000: only thousands, but in the notation of the other mark
        return (f"{AMBIGUOUS}'{value}' groups thousands with {'commas' if comma else 'dots'}, which a number "
                f"in this file cannot hold. Write it without a thousands separator: {thousands}.")
    decimal = Decimal(value.replace(",", ".")).normalize()
    shown = f"{decimal:f}".replace(".", ",")
    # The advice must never be a form this rule refuses: 1,125 (or 1.125) has no trailing zeros to drop, and
    # as a decimal comma it is refused again. A zero after its last digit (1,1250) makes four decimals, which
    # cannot group thousands, and is the same number.
    padded = bool(_THOUSANDS_COMMA.fullmatch(shown))
    decimal_form = shown + "0" if padded else shown
    if comma:
        how = (f"with a zero after the last decimal: {decimal_form} (four decimals cannot be thousands)" if padded
               else f"without the trailing zeros: {decimal_form}")
        return (f"{AMBIGUOUS}'{value}' could be a decimal comma ({value} = {decimal_form}) or a thousands separator "
                f"(English {value} = {thousands}). Write it without a thousands separator: {thousands}, or {how}.")
    how = (f"{decimal_form} with a decimal comma and a zero after the last decimal (four decimals cannot be "
           "thousands)" if padded else f"{decimal_form} with a decimal comma" if "," in decimal_form else decimal_form)
    return (f"{AMBIGUOUS}'{value}' could be a thousands separator (German {value} = {thousands}) or a decimal "
            f"point ({value} = {decimal_form}). Write it without a thousands separator: {thousands}, or {how}.")


# Excel counts dates in days from 1899-12-30: a date typed into a General cell (or exported to CSV)
# becomes its serial number, 45353 for 2024-03-02.
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _not_days(values: pd.Series) -> pd.Series:
    """Day values above the bound, with what they look like (an Excel date serial, a yyyymmdd date)."""
    late = values[(values > S.LATEST_DAY).fillna(False).astype(bool)].astype(float)
    return late.map({v: _late_day_problem(v) for v in pd.unique(late)}).astype(object)


def _late_day_problem(value: float) -> str:
    days = f"days since CAR-T infusion are at most {S.LATEST_DAY:,.0f} (20 years)"
    if value.is_integer() and 19000101 <= value <= 21001231:
        digits = str(int(value))
        date = pd.to_datetime(digits, format="%Y%m%d", errors="coerce")
        if not pd.isna(date):
            return (f"Looks like a date written as a number ({digits} = {date:%Y-%m-%d}, yyyymmdd), and "
                    f"{days}. {DAYS_ADVICE}")
    if value <= 73050:  # Excel's serial for 2099-12-31
        date = _EXCEL_EPOCH + pd.Timedelta(days=int(value))
        return (f"Looks like an Excel date serial number ({int(value)} = {date:%Y-%m-%d}: a date in a cell "
                f"formatted as General or Number), and {days}. {DAYS_ADVICE}")
    return f"Must be {S.LATEST_DAY:,.0f} or less: {days}."


def _more_digits_than_kept(values: pd.Series, cells: pd.Series, column: str, source: str) -> list[Problem]:
    """A warning on every number with more significant digits than the results keep (15, what a double
    holds for any decimal input: spreadsheet_safe.exact_number): the value is used as given, but the
    export writes it rounded, so the user is told where it will differ from the cell.

    Only a cell of more than 15 characters can hold more than 15 digits. A shorter number parses to the
    double nearest it (Arrow's and pandas' parsers round correctly), which 15 significant digits give back
    exactly (C's DBL_DIG): such cells are skipped, found in Arrow, as a registry's lab values nearly all are."""
    long = (cells.str.len() > 15).fillna(False).to_numpy(dtype=bool)
    if not long.any():
        return []
    present = values[long].dropna().astype(float)
    over = {x for x in pd.unique(present) if x != 0 and float(f"{x:.15g}") != x}
    if not over:
        return []
    found = [warning(source, f"More significant digits than the results keep: {x!r} is written as "
                             f"{float(f'{x:.15g}')!r} in exports (15 significant digits, as much as every decimal "
                             "number keeps exactly in a computer's floating point); calculations use the value "
                             "as given.", row=int(row), column=column, value=cells.at[row])
             for row, x in present[present.isin(over)].items()]
    return capped(found, source, column)


def _parse_column(text: pd.Series, kind: S.Kind, decimal_comma: bool) -> tuple[pd.Series, pd.Series]:
    """Typed values and, for cells that could not be read, the problem (indexed by row).

    `text` is what the readers give: trimmed Arrow text, NA where the cell was empty.
    """
    present = text.notna()
    if kind == "text":
        return pd.Series(_objects(text), index=text.index), pd.Series(dtype=object)
    if kind == "boolean":
        # each distinct spelling is read once (a registry repeats True and False millions of times)
        codes, distinct = pd.factorize(text)
        words = pd.Series(distinct, dtype=TEXT).str.lower().astype(object)
        meaning = [S.BOOLEAN_WORDS.get(w.removesuffix(".0")) for w in words] + [None]  # code -1: an empty cell
        truth = np.array([m is True for m in meaning], dtype=bool)[codes]
        unread = np.array([m is None for m in meaning], dtype=bool)[codes]
        values = pd.Series(pd.arrays.BooleanArray(truth, unread), index=text.index)
        bad = present & values.isna()
        return values, pd.Series("Must be true or false (yes/no, 1/0).", index=text[bad].index, dtype=object)
    values = _to_numbers(text.str.replace(",", ".", regex=False) if decimal_comma else text)
    bad = present & values.isna()
    failures = text[bad].astype(object).map(
        lambda v: DATE_PROBLEM if _DATE_PATTERN.match(v) else _not_a_number(v, kind, decimal_comma))
    tiny = _too_small(text, values)
    return values, pd.concat([failures, tiny]) if len(tiny) else failures


def _objects(text: pd.Series) -> np.ndarray:
    """Arrow text as Python strings, None where missing: what the typed frames hold.

    Arrow makes one string object per distinct value (a registry repeats each patient id and analyte
    thousands of times): five times faster than pandas' cell-by-cell conversion, and less memory."""
    if text.dtype != TEXT:
        return text.to_numpy(dtype=object, na_value=None)
    return pa.array(text.array).to_pandas(deduplicate_objects=True).to_numpy(dtype=object)


# The smallest number a double holds at full precision. Closer to 0 a number loses digits (4.9e-324 is
# kept as 5e-324), and below about 2.5e-324 it becomes 0 (5e-400 would load as 0): refused, as a number
# too large to hold is, rather than changed.
_SMALLEST_EXACT = 2.2250738585072014e-308
TOO_SMALL = ("Too close to 0 to keep exactly (numbers nearer 0 than 2.2e-308 lose digits or become 0 in a "
             "computer's floating point). Check the value; write 0 if it is zero.")


def _too_small(text: pd.Series, values: pd.Series) -> pd.Series:
    """Cells whose number is nonzero as written but too close to 0 to keep (the problem, by row)."""
    numbers = values.astype(float).to_numpy(na_value=np.nan)
    near_zero = np.abs(numbers) < _SMALLEST_EXACT  # NaN compares False
    if not near_zero.any():
        return pd.Series(dtype=object)
    candidates = text[near_zero].astype(TEXT)  # every zero is one: matched in Arrow, not cell by cell
    nonzero = candidates.str.contains(r"^[^eE]*[1-9]", regex=True).fillna(False).astype(bool)  # a digit before e
    return pd.Series(TOO_SMALL, index=candidates[nonzero].index, dtype=object)


# Digits grouped by spaces (1 000, with a space, a no-break space or a thin space), apostrophes (Swiss 1'000)
# or, outside a semicolon file, commas: refused like any text, with what to write instead.
_GROUPED = re.compile(r"^[+-]?\d[\d.,'\s\u00a0\u202f\u2009]*\d$")


def _not_a_number(value: str, kind: S.Kind, decimal_comma: bool) -> str:
    plain = "Not a number." if kind == "number" else "Not a whole number."
    if not _GROUPED.match(value):
        return plain
    if decimal_comma:
        mark = "a comma for the decimals (1500,25)"
    else:
        mark = "a dot for the decimals (1500.25; a decimal comma is read only in a semicolon-separated CSV)"
    return f"{plain[:-1]}: write it without thousands separators or spaces, with {mark}."


def _to_numbers(text: pd.Series) -> pd.Series:
    """Finite floats, NA where the text is not a number."""
    try:  # fast path: Arrow parses a clean column in one go
        parsed = pa_compute.cast(pa.array(text.array), pa.float64())
        numbers = parsed.to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        numbers = pd.to_numeric(text.astype(object), errors="coerce")
        numbers = pd.Series(numbers).to_numpy(dtype=float, na_value=np.nan)
    numbers = np.array(numbers, dtype=float)  # a copy of our own: the masked array keeps it
    missing = ~np.isfinite(numbers)  # NaN (empty or unreadable) and infinities
    numbers[missing] = 0.0
    return pd.Series(pd.arrays.FloatingArray(numbers, missing), index=text.index)


# --- normalisation ------------------------------------------------------------------------------

def _normalise(table: _Table) -> None:
    """Canonical vocabulary values, keeping what the user wrote beside them."""
    f = table.frame
    name = table.spec.name
    if name == "patients":
        f["product_as_given"] = f["product"]
        f["product"] = _canonical(f["product"], S.PRODUCT_SYNONYMS)
        known = {p.short: p for p in S.PRODUCTS}
        f["target"] = f["product"].map(lambda p: known[p].target if p in known else None)
        f["costimulatory_domain"] = f["product"].map(
            lambda p: known[p].costimulatory_domain if p in known else None)
        f["sex"] = f["sex"].map(lambda v: S.SEX_SYNONYMS.get(v.casefold(), v) if isinstance(v, str) else v)
    elif name == "interventions":
        f["agent_as_given"] = f["agent"]
        f["agent"] = _canonical(f["agent"], S.AGENT_SYNONYMS)
        f["route"] = _canonical(f["route"], S.ROUTE_SYNONYMS)
        f["dose_unit"] = _canonical(f["dose_unit"], S.DOSE_UNIT_SYNONYMS)
        f["end_day"] = f["end_day"].fillna(f["start_day"])  # blank = start_day (contract)
        f["agent_class"] = [S.agent_class(a, r) if isinstance(a, str) else None
                            for a, r in zip(f["agent"], f["route"].astype(object).where(f["route"].notna(), None))]
    elif name == "labs":
        f["analyte_as_given"] = f["analyte"]
        f["analyte"] = _canonical(f["analyte"], S.ANALYTE_SYNONYMS)
        f["value_as_given"] = f["value"]
        f["unit_as_given"] = f["unit"]
        f["unit"], factor = _unit_conversions(f["analyte"], f["unit"])
        f["value"] = _scaled_exactly(f["value"], factor)
        f["below_lloq"] = f["below_lloq"].fillna(False)
    derived.normalise(name, f)  # issue 13: observations, episode forms, grade-source marks


def _analyte_unit_pairs(analytes: pd.Series, units: pd.Series):
    """Each row's (analyte, unit) as one code, -1 where either is missing: (pairs, analyte names, unit names);
    a pair code p is analyte p // len(unit names) and unit p % len(unit names). Distinct values are few
    (tens), rows many (a registry's 2 million lab rows): rules on pairs are decided once per pair."""
    analyte_codes, analyte_names = pd.factorize(analytes)
    unit_codes, unit_names = pd.factorize(units)
    pairs = np.where((analyte_codes >= 0) & (unit_codes >= 0),
                     analyte_codes.astype(np.int64) * len(unit_names) + unit_codes, -1)
    return pairs, analyte_names, unit_names


def _unit_conversions(analytes: pd.Series, units: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The units after the known conversions (CRP mg/dL -> mg/L, ...) and each row's factor (1 where none),
    decided once per distinct analyte and unit; a row missing either is not converted."""
    pairs, analyte_names, unit_names = _analyte_unit_pairs(analytes, units)
    converted = units.astype(object).where(units.notna(), None)
    factor = np.ones(len(units))
    # each pair's new unit and factor looked up by its code: one pass over the rows, not one per pair
    found = np.unique(pairs[pairs >= 0])
    conversions = {int(p): S.unit_conversion(analyte_names[p // len(unit_names)], unit_names[p % len(unit_names)])
                   for p in found}
    convert = {p: c for p, c in conversions.items() if c is not None}
    if convert:
        slot = np.zeros(int(found.max()) + 2, dtype=np.int64)  # 0: not converted; the last slot is code -1
        for i, p in enumerate(convert, start=1):
            slot[p] = i
        which = slot[pairs]
        rows = which > 0
        new_units = np.array([None, *(c[0] for c in convert.values())], dtype=object)
        factors = np.array([1.0, *(c[1] for c in convert.values())], dtype=float)
        values = converted.to_numpy(dtype=object, copy=True)
        values[rows] = new_units[which[rows]]
        converted = pd.Series(values, index=units.index, name=units.name)
        factor = factors[which]
    return converted, pd.Series(factor, index=units.index, dtype="Float64")


def _unknown_agents(table: _Table) -> list[Problem]:
    """A warning on every agent the vocabulary does not know: it is kept as given, and its class is 'other'
    (or intrathecal therapy, by route), so a misspelt steroid ('Dexa', 'dexametasone') would silently fall
    out of the steroid totals. The closest known agent is suggested; the name is never changed."""
    f = table.frame
    unknown = f["agent"].notna() & ~f["agent"].isin(list(S.AGENTS))
    if not unknown.any():
        return []
    source = table.raw.source
    messages: dict[tuple[str, str | None], str] = {}
    found = []
    for row, agent, route, klass in zip(f.index[unknown], f.loc[unknown, "agent"], f.loc[unknown, "route"],
                                        f.loc[unknown, "agent_class"]):
        route = route if isinstance(route, str) else None
        if (agent, route) not in messages:
            messages[agent, route] = _unknown_agent_message(agent, klass)
        if (meant := _lookalike_agent(agent)) is not None:
            table.lookalikes[int(row), "agent"] = meant
        found.append(warning(source, messages[agent, route], row=int(row), column="agent",
                             value=table.raw.frame.at[row, "agent"] if "agent" in table.raw.frame.columns else agent))
    return capped(found, source, "agent")


def _episode_treatments(tables: dict[str, _Table]) -> list[Problem]:
    """The warnings of interventions rows on the treatments of episode forms that have days: those become
    interventions only after validation (derived.derive_assessments), so a misspelt 'Dexa' would otherwise
    become class 'other' without a word, and one after death or given twice would pass unseen. Each warning
    names the form's row and column (treatments, or the day list of the day that is late)."""
    episodes = tables["toxicity_episodes"]
    given = derived.episode_interventions(episodes.frame.rename_axis("source_row").reset_index())
    if given.empty:
        return []
    source = episodes.raw.source
    raw = episodes.raw.frame
    unknown = given[~given["agent"].isin(list(S.AGENTS))]
    found = [warning(source, _unknown_agent_message(agent, klass), row=int(row), column="treatments",
                     value=raw.at[row, "treatments"] if "treatments" in raw.columns else None)
             for row, agent, klass in zip(unknown["source_row"], unknown["agent"], unknown["agent_class"])]
    return capped(found, source, "treatments") + consistency.episode_treatments(
        tables.get("patients"), episodes, tables.get("interventions"), given)


def _lookalike_products(table: _Table) -> list[Problem]:
    """A warning on an unknown product that looks like a known one (a Cyrillic a in axi-cel): it is another
    product, with no target or costimulatory domain, though it reads the same. It is the cell's one warning: the
    generic "Unknown product" rule and `consistency.variant_spellings` skip it (their words are in it)."""
    f = table.frame
    known = {p.short for p in S.PRODUCTS}
    found = []
    for row, product in f.loc[f["product"].notna() & ~f["product"].isin(list(known)), "product"].items():
        meant = S.PRODUCT_SYNONYMS.get(S.vocabulary_key(without_lookalikes(product)))
        if meant is not None:
            found.append(warning(table.raw.source, f"Unknown product: {quoted(product)} looks like the product "
                                                   f"'{meant}' but is not it ({lookalike_note(product)}): kept as "
                                                   "given, as another product (and another group where the product "
                                                   "is the group) with unknown target and costimulatory domain. "
                                                   f"Retype it as '{meant}'.",
                                 row=int(row), column="product", value=table.raw.frame.at[row, "product"]))
            table.reported.add((int(row), "product"))
            table.lookalikes[int(row), "product"] = meant
    return capped(found, table.raw.source, "product")


def _lookalike_agent(agent: str) -> str | None:
    """The known agent an unknown one reads as but for look-alike or invisible characters (a Cyrillic a in
    dexamethasone), or None."""
    plain = without_lookalikes(agent)
    return S.AGENT_SYNONYMS.get(S.vocabulary_key(plain)) if plain != agent else None


def _unknown_agent_message(agent: str, klass: str) -> str:
    if klass == S.INTRATHECAL:
        counted = "counted as class 'intrathecal therapy' (route IT), as any agent given intrathecally"
    else:
        counted = ("counted as class 'other' (so not in the steroid totals, and not as a corticosteroid, IL-6 "
                   "or IL-1 blockade or IVIG in filters and time origins)")
    message = f"{quoted(agent)} is not a known agent: kept as given, {counted}."
    note = lookalike_note(agent)
    meant = _lookalike_agent(agent)
    if meant is not None:  # it reads as a known agent: say which, and why it is not (no guessing at others)
        why = f" ({note})" if note else ""
        return message + f" It looks like '{meant}' ({S.AGENTS[meant][0]}) but is not it{why}. Retype it as '{meant}'."
    close = S.closest_agents(agent)
    if close:
        message += " Did you mean " + " or ".join(f"'{c}' ({S.AGENTS[c][0]})" for c in close) + "?"
    if klass != S.INTRATHECAL and S.vocabulary_key(agent).endswith(S.CORTICOSTEROID_ENDINGS):
        message += (" If it is another corticosteroid, it has no dexamethasone factor in this format (only "
                    f"{', '.join(S.DEXAMETHASONE_EQUIVALENTS)}), so it is not counted as one.")
    return message + (f" ({note}.)" if note else "")


def _scaled_exactly(values: pd.Series, factor: pd.Series) -> pd.Series:
    """values x factor as the decimal product (1.1 ng/mL is 1100 pg/mL, not 1100.0000000000002): the
    converted value is what the user would compute, and the export writes it exactly."""
    scaled = values * factor
    changed = (factor != 1.0) & values.notna()
    if changed.any():
        pairs = pd.Series(list(zip(values[changed].astype(float), factor[changed].astype(float))),
                          index=values[changed].index)
        exact = {p: float(Decimal(repr(p[0])) * Decimal(repr(p[1]))) for p in pd.unique(pairs)}
        scaled[changed] = pairs.map(exact).astype(float)
    return scaled


def _canonical(values: pd.Series, synonyms: dict[str, str]) -> pd.Series:
    # look each distinct spelling up once: a registry repeats a few names millions of times
    return map_distinct(values, lambda v: synonyms.get(S.vocabulary_key(v), v))


def _patient_ids(tables: dict[str, _Table]) -> set[str] | None:
    if "patients" not in tables:
        return None
    return set(tables["patients"].frame["patient_id"].dropna())


# --- 3. rules ----------------------------------------------------------------------------------

def _rules(spec: S.TableSpec, patient_ids: set[str] | None) -> DataFrameSchema:
    """The contract's rules for one table as a pandera schema; each check's error is the message."""
    columns = {}
    for col in spec.columns:
        checks = []
        if col.minimum is not None:
            checks.append(Check.ge(col.minimum, error=f"Must be {col.minimum:g} or more."))
        if col.maximum is not None:
            message = (f"Must be {_bound(col.maximum)} or less{_BOUND_REASONS.get(col.name, '.')}"
                       if col.name != "age_years" else
                       f"Ages of {S.AGE_CAP} and over must be recorded as {S.AGE_CAP}.")
            checks.append(Check.le(col.maximum, error=message))
        if col.kind == "integer":
            checks.append(Check(lambda s: s == s.round(), error="Must be a whole number."))
        if col.allowed:
            checks.append(Check.isin(col.allowed, error=f"Must be one of {', '.join(col.allowed)}."))
        if col.name == "patient_id" and spec.name != "patients" and patient_ids is not None:
            checks.append(Check.isin(patient_ids, error="Unknown patient: this patient_id is not in "
                                                        "the patients table."))
        unique = spec.name == "patients" and col.name == "patient_id"
        columns[col.name] = Column(nullable=not col.required, unique=unique, checks=checks)
    return DataFrameSchema(columns, checks=_ROW_RULES.get(spec.name, []))


_BOUND_REASONS = {
    "daily_dose": ": no daily dose in mg, g, mg/kg or g/kg is this large (IVIG 2 g/kg is 140,000 mg).",
    "value": " (after known unit conversions): far above any assay, and a typing error.",
}


def _bound(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) < 1e9 else f"{value:g}"


def _one_unit_per_analyte(f: pd.DataFrame) -> pd.Series:
    """True for each row whose unit is its analyte's usual one (or either is missing).

    The analyte's most common unit is taken as intended and the other rows are pointed at; with a tie
    there is no telling, so every row of that analyte is. An analyte with no unit at all has no usual
    unit, and its rows are refused for the missing unit alone. Counted on codes of the two columns
    (a registry's 2 million lab rows in a tenth of a second), never a table of every analyte by unit.
    """
    codes, analytes, units = _analyte_unit_pairs(f["analyte"], f["unit"])
    both = codes >= 0
    pairs = pd.Series(codes[both]).value_counts(sort=False)
    counted = pd.DataFrame({"analyte": pairs.index // len(units), "unit": pairs.index % len(units),
                            "rows": pairs.to_numpy()}).sort_values(["analyte", "rows"], ascending=[True, False],
                                                                   kind="stable")
    first = counted.groupby("analyte").nth(0)
    second = counted.groupby("analyte").nth(1).set_index("analyte")["rows"]
    clear = first["rows"].to_numpy() > second.reindex(first["analyte"]).fillna(0).to_numpy()
    usual = np.full(len(analytes), -1, dtype=np.int64)  # -1: no usual unit
    usual[first["analyte"].to_numpy()[clear]] = first["unit"].to_numpy()[clear]
    good = ~both
    analyte, unit = codes[both] // len(units), codes[both] % len(units)
    good[both] = unit == usual[analyte]
    return pd.Series(good, index=f.index)


# Cross-column rules: (message, column named in the report, check returning True for good rows)
_ROW_RULE_COLUMNS = {
    "A toxicity row needs at least one of crs_grade or icans_grade (a blank means not assessed).":
        "crs_grade / icans_grade",
    "end_day is before start_day.": "end_day",
    "This analyte has another unit elsewhere in the table; use one unit per analyte.": "unit",
}
_ROW_RULES = {
    "toxicity": [Check(lambda f: f["crs_grade"].notna() | f["icans_grade"].notna(),
                       error=list(_ROW_RULE_COLUMNS)[0])],
    "interventions": [Check(lambda f: ~(f["end_day"] < f["start_day"]).fillna(False),
                            error=list(_ROW_RULE_COLUMNS)[1])],
    "labs": [Check(_one_unit_per_analyte, error=list(_ROW_RULE_COLUMNS)[2])],
}

_WARNING_COLUMNS = {
    "Unknown product: kept as given; its target and costimulatory domain are unknown.": "product",
    "Unknown route: the row is treated as systemic.": "route",
    "Unknown dose unit: this dose cannot enter dose totals.": "dose_unit",
    "Corticosteroid dose not in mg: it cannot enter the cumulative steroid total.": "dose_unit",
    "Unit not recognised for this analyte; kept as given.": "unit",
    "death_day is before last_followup_day (the last day known alive).": "death_day",
}


def _warning_rules(spec: S.TableSpec) -> DataFrameSchema:
    messages = list(_WARNING_COLUMNS)
    checks = {
        "patients": [
            Check(lambda f: f["product"].isna() | f["product"].isin([p.short for p in S.PRODUCTS]),
                  error=messages[0]),
            Check(lambda f: ~(f["death_day"] < f["last_followup_day"]).fillna(False), error=messages[5]),
        ],
        "interventions": [
            Check(lambda f: f["route"].isna() | f["route"].isin(S.ROUTES), error=messages[1]),
            Check(lambda f: f["dose_unit"].isna() | f["dose_unit"].isin(S.DOSE_UNITS), error=messages[2]),
            Check(lambda f: ~((f["agent_class"] == S.CORTICOSTEROID) & f["daily_dose"].notna()
                              & (f["dose_unit"] != "mg").fillna(True)).fillna(False), error=messages[3]),
        ],
        "labs": [
            Check(lambda f: ~(f["analyte"].isin(list(S.ANALYTES)) & f["unit"].notna()
                              & (f["unit"] == f["unit_as_given"])
                              & ~f["unit"].isin([u for u, _ in S.ANALYTES.values()])), error=messages[4]),
        ],
    }
    return DataFrameSchema(checks=checks.get(spec.name, []))


_BUILTIN_MESSAGES = {
    "not_nullable": "Required: this cell is empty.",
    "field_uniqueness": "Duplicate patient_id: each patient must appear once in the patients table.",
}


def _apply_rules(table: _Table, rules: DataFrameSchema, severity: str) -> list[Problem]:
    if _surely_all_pass(table.frame, rules):
        return []  # what pandera would conclude, without its per-check bookkeeping
    try:
        rules.validate(table.frame, lazy=True, inplace=True)  # no coercion: a copy of every table would only cost memory
        return []
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    make = error if severity == "error" else warning
    problems = []
    for case in cases.itertuples(index=False):
        message = _BUILTIN_MESSAGES.get(case.check, case.check)
        column = _ROW_RULE_COLUMNS.get(message) or _WARNING_COLUMNS.get(message) or case.column
        row = None if pd.isna(case.index) else int(case.index)
        if row is not None and (row, column) in table.reported:
            continue  # already reported as unreadable
        table.reported.add((row, column))
        raw_column = column if column in table.raw.frame.columns else None
        value = table.raw.frame.at[row, raw_column] if row is not None and raw_column else None
        problems.append(make(table.raw.source, message, row=row, column=column, value=value))
    return problems


def _surely_all_pass(frame: pd.DataFrame, rules: DataFrameSchema) -> bool:
    """True only when every rule of `rules` passes on `frame`; False when any fails or this pass cannot tell.

    The same check functions on the same values, minus pandera's bookkeeping: for each check it finds and
    drops the empty cells again, and a table check looks for empty cells in every column, which costs
    seconds on a registry's millions of text cells. A clean table is decided here; any failure (or anything
    unusual) goes to pandera, whose failure cases make the messages, so no message can differ.
    """
    for name, column in rules.columns.items():
        if name not in frame.columns or column.regex or column.dtype is not None:
            return False
        cells = frame[name]
        missing = cells.isna().to_numpy(dtype=bool)
        if missing.any():
            if not column.nullable:
                return False
            cells = cells[~missing]
        if column.unique and cells.duplicated().any():
            return False
        if not all(_surely_passes(check, cells) for check in column.checks):
            return False
    return all(_surely_passes(check, frame) for check in rules.checks)


def _surely_passes(check: Check, data: pd.Series | pd.DataFrame) -> bool:
    # a column's empty cells are already dropped (what ignore_na does); a table check must pass on every row,
    # stricter than pandera, which also lets a row with every cell empty pass
    if check.element_wise or check.groupby is not None or not check.ignore_na or check.n_failure_cases:
        return False
    function = check._check_fn
    if check.is_builtin_check(name := getattr(function, "__name__", "")):
        function = check.get_builtin_check_fn(name)  # as Check.__call__ does: the dispatcher of its data types
    output = function(data, **check._check_kwargs)
    if isinstance(output, (bool, np.bool_)):
        return bool(output)
    if not isinstance(output, pd.Series) or len(output) != len(data):
        return False
    if output.dtype == "boolean":  # a nullable column's comparison: every value must be a plain True
        return not output.isna().any() and bool(output.all())
    return output.dtype == bool and bool(output.all())


# --- typed result ---------------------------------------------------------------------------------

def _finish(table: _Table) -> pd.DataFrame:
    """Final dtypes and column order: contract columns, then derived ones; index = spreadsheet row."""
    f = table.frame
    for col in table.spec.columns:
        if col.kind == "integer":
            f[col.name] = f[col.name].astype("Int64")
        elif col.kind == "number":
            f[col.name] = f[col.name].astype("float64")
        elif col.kind == "boolean":
            f[col.name] = f[col.name].astype(bool)
        else:
            f[col.name] = f[col.name].astype(object).where(f[col.name].notna(), None)
    if "value_as_given" in f:
        f["value_as_given"] = f["value_as_given"].astype("float64")
    columns = table.spec.column_names + DERIVED_COLUMNS[table.spec.name]
    typed = f[columns]  # one copy, on a new index (copies of millions of rows cost a second each)
    typed.index = pd.RangeIndex(len(typed))
    typed.insert(0, "source_row", f.index.to_numpy(dtype=np.int64))
    return typed
