"""Problems found while reading or validating a cohort, and the report users read.

A problem names where it is (file or sheet, spreadsheet row, column), the value
found and what is wrong. Errors stop a cohort from loading; warnings do not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

Severity = Literal["error", "warning"]
REPORT_COLUMNS = ["severity", "source", "row", "column", "value", "problem"]


@dataclass(frozen=True)
class Problem:
    severity: Severity
    source: str  # file name, or "workbook.xlsx › sheet"
    row: int | None  # spreadsheet row: the header is row 1, the first data row is row 2
    column: str | None
    value: str | None
    problem: str


def error(source: str, problem: str, row: int | None = None, column: str | None = None,
          value: object = None) -> Problem:
    """An error: the cohort will not load."""
    return Problem("error", source, row, column, show_value(value), problem)


def warning(source: str, problem: str, row: int | None = None, column: str | None = None,
            value: object = None) -> Problem:
    """A warning: the cohort loads, and the user is told."""
    return Problem("warning", source, row, column, show_value(value), problem)


# Control characters, and the invisible ones that change how text looks or reads: zero-width
# spaces and joiners, bidirectional overrides (U+202E shows "P1\u202e3x" as "P1x3"), the BOM; and spaces
# other than the ASCII space, which look like one (a no-break space pasted from a document).
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00a0\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f"
                        r"\u205f-\u2064\u2066-\u206f\u3000\ufeff]")

# Letters of other scripts that look like Latin ones (after Unicode's confusables.txt, the letters a
# reader cannot tell apart in a sans-serif font): "Ste\u0440oids" with a Cyrillic er looks exactly like
# "Steroids" and is another group. Greek alpha and mu are left out: TNF-\u03b1 and \u03bcg/L are written so.
LOOKALIKES: dict[str, str] = {
    # Cyrillic
    "\u0430": "a", "\u0432": "B", "\u0435": "e", "\u043a": "k", "\u043c": "M", "\u043d": "H", "\u043e": "o",
    "\u0440": "p", "\u0441": "c", "\u0442": "T", "\u0443": "y", "\u0445": "x", "\u0455": "s", "\u0456": "i",
    "\u0458": "j", "\u0501": "d", "\u04bb": "h", "\u04cf": "l", "\u051b": "q", "\u051d": "w",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H", "\u041e": "O",
    "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0423": "Y", "\u0425": "X", "\u0405": "S", "\u0406": "I",
    "\u0408": "J", "\u051a": "Q", "\u051c": "W", "\u04c0": "I",
    # Greek
    "\u03bf": "o", "\u03bd": "v", "\u03c1": "p", "\u03b9": "i", "\u03ba": "k", "\u03c5": "u",
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I", "\u039a": "K",
    "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
    # Armenian and others
    "\u0585": "o", "\u057d": "u", "\u0578": "n", "\u0570": "h", "\u0261": "g", "\u0131": "i", "\u0251": "a",
}
_LATIN_LETTER = re.compile(r"[A-Za-z]")


# A rule that fires on a whole column (an id column formatted 000, a registry's duplicated export) would
# otherwise bury the report under a million alike lines.
MAX_ALIKE = 100


def capped(problems: list[Problem], source: str, column: str | None, limit: int = MAX_ALIKE) -> list[Problem]:
    """The first `limit` problems of one kind, then one that says how many more there are and where."""
    if len(problems) <= limit:
        return problems
    rest = problems[limit:]
    rows = [p.row for p in rest if p.row is not None]
    where = f" (rows {min(rows):,} to {max(rows):,})" if rows else ""
    first = problems[0]
    return problems[:limit] + [Problem(first.severity, source, rest[0].row, column, None,
                                       f"...and {len(rest):,} more like the above{where}: {first.problem}")]


def show_value(value: object) -> str | None:
    """A cell value as the user would recognise it, shortened if long; invisible characters are
    written as escapes (\\u200d), so that a value that looks right shows why it is not."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value)
    if not text.strip():
        return None
    text = text if len(text) <= 80 else text[:77] + "..."
    return visible(text)


def visible(text: str) -> str:
    """`text` with every character that hides what it is written as an escape: invisible characters and
    unusual spaces (P\\u200d1, Steroids\\u00a0alone), letters of other scripts that look Latin in a text
    that is (or looks) Latin (Ste\\u0440oids), and compatibility forms of ASCII letters and digits
    (full-width \\uff41xi-cel). Every message quoting a user's value uses it (directly, through `quoted`, or
    through the `value` of a Problem), so two values that look the same show why they are not."""
    if text.isascii():
        return _INVISIBLE.sub(_escape, text)
    latin = _looks_latin(text)
    return "".join(_escape_char(c) if _hides(c, latin) else c for c in text)


def lookalike_key(text: str) -> str:
    """What a reader sees of `text`, for finding values that differ only in case, spacing, look-alike letters
    or invisible characters: NFKC, look-alikes as their Latin letter, invisible characters removed, every
    run of spaces one space, trimmed, case-folded."""
    return _SPACES.sub(" ", without_lookalikes(text)).strip().casefold()


def without_lookalikes(text: str) -> str:
    """`text` in NFKC with look-alike letters as their Latin letter and invisible characters removed (case and
    spaces kept)."""
    text = unicodedata.normalize("NFKC", str(text))
    return _HIDDEN.sub("", "".join(LOOKALIKES.get(c, c) for c in text))


_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_HIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
                     r"\u2060-\u2064\u2066-\u206f\ufeff]")


def _looks_latin(text: str) -> bool:
    """Latin letters in it, or only letters that look Latin (a whole word in Cyrillic lookalikes)."""
    return bool(_LATIN_LETTER.search(text)) or all(c in LOOKALIKES for c in text if c.isalpha())


def quoted(value: object) -> str:
    """A value for the text of a message: in quotes, with `visible`'s escapes."""
    return f"'{visible(str(value))}'"


def lookalike_note(value: object) -> str:
    """What hides in a value, named ("contains U+0440 CYRILLIC SMALL LETTER ER, which looks like Latin 'p'"),
    or "" when nothing does."""
    text = str(value)
    latin = _looks_latin(text)
    found: list[str] = []
    for c in dict.fromkeys(text):
        if not _hides(c, latin):
            continue
        name = unicodedata.name(c, "unnamed character")
        if c in LOOKALIKES:
            found.append(f"U+{ord(c):04X} {name}, which looks like Latin '{LOOKALIKES[c]}'")
        elif unicodedata.category(c) == "Cc":
            found.append(f"U+{ord(c):04X}, a control character")
        elif _INVISIBLE.match(c):
            found.append(f"U+{ord(c):04X} {name}, which is invisible or looks like a space")
        elif c in _DASHES:
            found.append(f"U+{ord(c):04X} {name}, which looks like the hyphen-minus '-'")
        else:
            found.append(f"U+{ord(c):04X} {name}, a compatibility form of '{unicodedata.normalize('NFKC', c)}'")
    return f"{quoted(text)} contains " + "; ".join(found) if found else ""


# Dashes and minus signs that look like the ASCII hyphen-minus (a "−5" from a word processor is not a number)
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")


def _hides(c: str, looks_latin: bool) -> bool:
    if _INVISIBLE.match(c) or c in _DASHES:
        return True
    if c in LOOKALIKES:
        return looks_latin
    if ord(c) <= 0xFF:  # Latin-1 (\u00b2, \u00b5, \u00e9, ...): as written
        return False
    folded = unicodedata.normalize("NFKC", c)
    return folded != c and folded.isascii() and folded.isalnum()


def _escape_char(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(match: re.Match) -> str:
    return _escape_char(match[0])


def report_frame(problems: list[Problem]) -> pd.DataFrame:
    """The validation report: one row per problem, errors first, in file and row order.

    Columns: severity, source, row (Int64, spreadsheet row), column, value, problem.
    """
    frame = pd.DataFrame([asdict(p) for p in problems], columns=REPORT_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    order = frame["severity"].map({"error": 0, "warning": 1})
    frame = frame.assign(_order=order).sort_values(
        ["_order", "source", "row", "column"], na_position="first", kind="stable"
    )
    return frame.drop(columns="_order").reset_index(drop=True)


def format_problem(p: Problem) -> str:
    """One problem as a line of text for the command line."""
    where = p.source
    if p.row is not None:
        where += f", row {p.row}"
    if p.column:
        where += f", column {p.column}"
    value = f" (value: {p.value!r})" if p.value is not None else ""
    return f"{p.severity.upper()}: {where}: {p.problem}{value}"
