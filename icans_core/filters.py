"""Cohort filters as one frozen object: what a user chose, checked, and said back in words.

`store.select_patients(con, cohort_filter)` turns it into parameterised SQL; every page,
download and export then sees only the selected patients. An empty choice means "no
restriction" for that field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

from icans_core.problems import quoted
from icans_core.schema import AGENT_CLASSES

Mode = Literal["any", "all", "none"]
MODES: dict[str, str] = {"any": "received any of", "all": "received all of", "none": "received none of"}


@dataclass(frozen=True)
class InterventionFilter:
    """Patients by what they received: classes or agents, any / all / none, optionally near onset."""

    names: tuple[str, ...] = ()  # intervention classes (schema.AGENT_CLASSES) or agent names
    mode: Mode = "any"
    # Only doses started within this many days after severe-ICANS onset count (None: any time).
    within_days_of_onset: float | None = None
    severe_grade: int = 3  # what "severe-ICANS onset" means for the window

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"intervention mode must be one of {', '.join(MODES)}")
        if self.within_days_of_onset is not None and self.within_days_of_onset < 0:
            raise ValueError("the day window must be 0 or more")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n in AGENT_CLASSES)

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in AGENT_CLASSES)


@dataclass(frozen=True)
class CohortFilter:
    """Which patients to look at. Every field empty (the default) selects every patient."""

    products: tuple[str, ...] = ()
    costimulatory_domains: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    diseases: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # the patient's own group column (not the "compare by" grouping)
    sexes: tuple[str, ...] = ()
    ecog: tuple[int, ...] = ()
    age_range: tuple[float, float] | None = None
    max_crs_grades: tuple[int, ...] = ()
    max_icans_grades: tuple[int, ...] = ()
    intervention: InterventionFilter = field(default_factory=InterventionFilter)

    def __post_init__(self) -> None:
        if self.age_range is not None and self.age_range[0] > self.age_range[1]:
            raise ValueError("the age range's lower bound is above its upper bound")
        for grade in (*self.max_crs_grades, *self.max_icans_grades):
            if not 0 <= grade <= 5:
                raise ValueError(f"a grade filter must be 0-5, not {grade}")

    @property
    def is_empty(self) -> bool:
        """True when the filter selects every patient (an intervention mode or day window with no
        intervention chosen restricts nothing: store.select_patients ignores it)."""
        intervention = self.intervention if self.intervention.names else InterventionFilter()
        return replace(self, intervention=intervention) == CohortFilter()


_LABELS = {
    "products": "product", "costimulatory_domains": "costimulatory domain", "targets": "target antigen",
    "diseases": "disease", "groups": "group", "sexes": "sex", "ecog": "ECOG",
    "max_crs_grades": "maximum CRS grade", "max_icans_grades": "maximum ICANS grade",
}


def describe(cohort_filter: CohortFilter) -> list[str]:
    """The filter in words, one line per restriction (for the sidebar, the report and the export)."""
    lines = []
    for f in fields(CohortFilter):
        value = getattr(cohort_filter, f.name)
        if f.name in _LABELS and value:
            lines.append(f"{_LABELS[f.name]}: {', '.join(str(v) for v in value)}")
    if cohort_filter.age_range is not None:
        low, high = cohort_filter.age_range
        lines.append(f"age: {low:g} to {high:g} years")
    rx = cohort_filter.intervention
    if rx.names:
        window = (f", started within {rx.within_days_of_onset:g} days after severe-ICANS onset "
                  f"(grade {rx.severe_grade}+)" if rx.within_days_of_onset is not None else "")
        lines.append(f"{MODES[rx.mode]}: {', '.join(rx.names)}{window}")
    return lines


# The command line's option for each list filter (as `python -m icans_core export --help` names them).
OPTIONS = {"products": "--product", "costimulatory_domains": "--costimulatory-domain", "targets": "--target",
           "diseases": "--disease", "groups": "--group", "sexes": "--sex", "ecog": "--ecog"}


def unknown_values(cohort_filter: CohortFilter, choices: dict[str, list]) -> list[str]:
    """A message for every chosen value that no patient of the cohort has (values match exactly, so
    `Axi-cel` would select nobody without a word), naming the values there are and the one that matches but
    for case, if any. `choices` is store.filter_choices(con). Intervention classes are a closed vocabulary
    and always known (a class nobody received is a meaningful choice with 'none')."""
    problems = []
    for attribute, option in OPTIONS.items():
        available = list(choices.get(attribute, []))
        for value in getattr(cohort_filter, attribute):
            if value not in available:
                problems.append(f"{option} {quoted(value)} matches no patient's {_LABELS[attribute]} in this cohort "
                                f"(values match exactly, case included), so the results would hold nobody."
                                f"{_same_but_case(value, available)} Available: {_listed(available)}.")
    agents = list(dict.fromkeys(choices.get("agents", [])))
    for value in cohort_filter.intervention.names:
        if value not in AGENT_CLASSES and value not in agents:
            problems.append(f"--intervention {quoted(value)} is neither an intervention class nor an agent of this "
                            f"cohort (values match exactly, case included).{_same_but_case(value, [*AGENT_CLASSES, *agents])}"
                            f" Classes: {_listed(list(AGENT_CLASSES))}. Agents given in this cohort: {_listed(agents)}.")
    return problems


def _same_but_case(value: str, available: list) -> str:
    same = [v for v in available if str(v).casefold() == str(value).casefold()]
    return f" Did you mean {quoted(same[0])}?" if same else ""


def _listed(values: list) -> str:
    if not values:
        return "(none)"
    return ", ".join(quoted(v) for v in values[:50]) + (f", ... ({len(values):,} in all)" if len(values) > 50 else "")
