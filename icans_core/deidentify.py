"""The de-identification guard: direct identifiers are refused before anything is stored.

Screens every uploaded table, contract columns and extra ones alike:
- column names that name an identifier (name, MRN, SSN, date of birth, address, phone, email);
- text values that look like a calendar date, an email address, a phone number, a US social
  security number, or a long number such as a medical record number.
(Ages over 89 must already be recorded as 90: a schema rule.) Every finding is an error that
names the file, row and column, so nothing loads until the data is de-identified.
"""

from __future__ import annotations

import re

import pandas as pd

from icans_core.problems import Problem, error
from icans_core.readers import RawTable

# Column-name words (after splitting on anything not a letter or digit) that mark a direct identifier.
# "name" alone or with one of these marks a person's name; "product name" or "drug name" do not.
_PERSON_WORDS = {"patient", "first", "last", "full", "given", "family", "middle", "maiden", "person", "sur"}
_IDENTIFIER_WORDS = {
    "firstname": "a person's name", "lastname": "a person's name",
    "surname": "a person's name", "forename": "a person's name", "initials": "a person's initials",
    "mrn": "a medical record number", "ssn": "a social security number", "nhs": "a national health number",
    "dob": "a date of birth", "birthdate": "a date of birth", "birthday": "a date of birth",
    "address": "an address", "street": "an address", "postcode": "an address", "zip": "an address",
    "zipcode": "an address", "phone": "a phone number", "telephone": "a phone number",
    "mobile": "a phone number", "email": "an email address", "mail": "an email address",
}
_IDENTIFIER_PHRASES = {  # word pairs, checked on the joined name
    "dateofbirth": "a date of birth", "birthdate": "a date of birth", "medicalrecord": "a medical record number",
    "recordnumber": "a medical record number", "socialsecurity": "a social security number",
    "patientname": "a person's name",
}

_VALUE_PATTERNS = [
    # The lookbehind starts a match only where a run of name characters starts: without it, a long
    # run without "@" (a 100,000-character cell) is re-scanned from every position, in quadratic time.
    ("an email address", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")),
    ("a social security number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("a calendar date", re.compile(r"\b(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
                                   r"|\d{1,2}[-\s](jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-\s,]*\d{2,4})\b",
                                   re.IGNORECASE)),
    ("a phone number", re.compile(r"(\+\d{1,3}[\s.-]?)?\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{3,4}\b")),
    ("a medical record number or other long number", re.compile(r"\b\d{7,}\b")),
]


def identifier_column(name: str) -> str | None:
    """What a column name says it holds, if it is a direct identifier; else None."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.casefold()) if w]
    joined = "".join(words)
    for phrase, what in _IDENTIFIER_PHRASES.items():
        if phrase in joined:
            return what
    if "name" in words and (len(words) == 1 or _PERSON_WORDS & set(words)):
        return "a person's name"
    return next((_IDENTIFIER_WORDS[w] for w in words if w in _IDENTIFIER_WORDS), None)


def identifier_value(text: str) -> str | None:
    """What a text value looks like, if it looks like a direct identifier; else None."""
    return next((what for what, pattern in _VALUE_PATTERNS if pattern.search(text)), None)


def screen(raw: RawTable, text_columns: set[str]) -> list[Problem]:
    """Every identifier-like column name and text value of one uploaded table, as errors.

    `text_columns` are the contract's text columns of this table; columns the contract does
    not know are screened too (they would be ignored, but they still should not be uploaded).
    Numeric contract columns are left to their own rules (a date there is already refused).
    """
    problems = []
    for position, column in enumerate(raw.frame.columns):  # by position: a header may repeat a name
        what = identifier_column(column)
        if what:
            problems.append(error(raw.source, f"This column looks like {what}, a direct identifier. Remove it: "
                                              "uploads must be de-identified.", row=1, column=column))
            continue
        if column in text_columns or column not in _KNOWN_NUMERIC:
            problems += _screen_values(raw, column, raw.frame.iloc[:, position])
    return problems


def _screen_values(raw: RawTable, column: str, cells: pd.Series) -> list[Problem]:
    # A registry repeats a few values millions of times: judge each distinct value once.
    present = cells.dropna()
    # Arrow text (what the readers give) is hashed in C; other cells are judged as their text
    distinct = present.unique() if isinstance(present.dtype, pd.StringDtype) else pd.unique(present.astype(str))
    verdicts = {v: identifier_value(v) for v in distinct}
    flagged = {v: what for v, what in verdicts.items() if what}
    if not flagged:
        return []
    rows = cells[cells.isin(list(flagged))]
    return [error(raw.source, f"This value looks like {flagged[str(value)]}, a direct identifier. Remove or "
                              "replace it with a pseudonym before uploading." + _PREPARE_HINT.get(flagged[str(value)], ""),
                  row=int(row), column=column, value=value)
            for row, value in rows.items()]


# Dates can be converted on the user's own computer, so they never reach the server (issue 13).
PREPARE_HINT = (" To turn calendar dates into days since infusion on your own computer, run "
                "`python -m icans_core prepare` (docs/data-format.md, \"Calendar dates\").")
_PREPARE_HINT = {"a calendar date": PREPARE_HINT}


def _numeric_columns() -> set[str]:
    from icans_core.schema import TABLES

    return {c.name for t in TABLES.values() for c in t.columns if c.kind != "text"}


_KNOWN_NUMERIC = _numeric_columns()
