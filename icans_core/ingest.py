"""Read and validate a cohort in any contract form: a Cohort, or every problem and no Cohort.

    result = load_sources([Source("cohort.xlsx", data)])
    if result.cohort is None: show(result.report)

Loading is all-or-nothing: any error leaves `cohort` as None. Warnings travel with
the cohort so the user can see them after it loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from icans_core import derived
from icans_core.limits import Limits
from icans_core.problems import Problem, report_frame
from icans_core.readers import RawTable, Source, read_sources, sources_from_paths
from icans_core.validation import validate_tables


@dataclass(frozen=True)
class SourceFile:
    """Provenance of one input: what was loaded, how big, and its SHA-256."""

    name: str
    size_bytes: int
    sha256: str


@dataclass
class Cohort:
    """A validated cohort: typed tables by name (optional tables may be absent) and provenance."""

    tables: dict[str, pd.DataFrame]
    sources: list[SourceFile]
    loaded_at: str
    label: str
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class LoadResult:
    cohort: Cohort | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.cohort is not None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def report(self) -> pd.DataFrame:
        """Every problem as a table: severity, source, row, column, value, problem."""
        return report_frame(self.problems)


def load_sources(sources: list[Source], label: str | None = None,
                 on_step: Callable[[str, float], None] | None = None, limits: Limits | None = None) -> LoadResult:
    """Read and validate uploaded files; the cohort is None if anything is wrong.

    `on_step(message, fraction_done)` is told as each long step starts, for a progress bar.
    `limits` (upload size, rows per table) default to those in force: `Limits.from_environment()`.
    """
    step = on_step or (lambda message, fraction: None)
    step(f"Reading {len(sources)} file(s)", 0.05)
    raw_tables, problems = read_sources(sources, limits)
    rows = sum(len(t.frame) for t in raw_tables)
    step(f"Validating {rows:,} rows", 0.4)
    return load_raw_tables(raw_tables, problems, sources, label, on_step=step)


def load_raw_tables(raw_tables: list[RawTable], problems: list[Problem], sources: list[Source],
                    label: str | None = None, on_step: Callable[[str, float], None] | None = None) -> LoadResult:
    """Validate tables already read (from files, or converted from a REDCap export) into a cohort.

    `problems` are those found while reading; `sources` are the files the tables came from.
    """
    raw_tables = derived.with_placeholder_toxicity(raw_tables)  # issue 13: episode forms / observations only
    tables, validation_problems = validate_tables(raw_tables)
    problems = problems + validation_problems
    if tables is not None and not any(p.severity == "error" for p in problems):
        if on_step is not None:
            on_step("Deriving grades from observations and episode forms", 0.7)
        tables, derive_problems = derived.derive_assessments(tables, {t.table: t.source for t in raw_tables})
        problems = problems + derive_problems
    if tables is None or any(p.severity == "error" for p in problems):
        return LoadResult(None, problems)
    cohort = Cohort(
        tables=tables,
        sources=[SourceFile(s.name, len(s.data), s.sha256) for s in sources],
        loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        label=label or ", ".join(s.name for s in sources),
        warnings=problems,
    )
    return LoadResult(cohort, problems)


def load_paths(paths: list[str | Path], label: str | None = None,
               on_step: Callable[[str, float], None] | None = None) -> LoadResult:
    """Read and validate files or folders on disk (the command line's input); `on_step` as load_sources'."""
    sources, problems = sources_from_paths(paths)
    if problems:
        return LoadResult(None, problems)
    return load_sources(sources, label=label, on_step=on_step, limits=Limits.from_environment().for_files_on_disk())
