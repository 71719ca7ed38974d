"""The cohort filter panel in the sidebar: every control bound to the URL, so the address is a shareable link.

The chosen filter becomes the session database's selection (store.select_patients), so every
page, download and export sees the same patients.
"""

from __future__ import annotations

import streamlit as st

from icans_core import schema, store
from icans_core.content.sections import plural
from icans_core.filters import MODES, CohortFilter, InterventionFilter, describe
from ui import links, options, session
from ui.text import plain

# URL parameter (= widget key) -> what it filters
KEYS = {
    "product": "products", "costim": "costimulatory_domains", "target": "targets", "disease": "diseases",
    "group": "groups", "sex": "sexes", "ecog": "ecog", "max_crs": "max_crs_grades",
    "max_icans": "max_icans_grades",
}
AGE, RX, RX_MODE, RX_WINDOW = "age", "rx", "rx_mode", "rx_window"
LABELS = {
    "product": "Product", "costim": "Costimulatory domain", "target": "Target antigen", "disease": "Disease",
    "group": "Group (study arm)", "sex": "Sex", "ecog": "ECOG", "max_crs": "Maximum CRS grade",
    "max_icans": "Maximum ICANS grade",
}
# Every URL parameter the app understands; anything else is reported, then ignored.
KNOWN_PARAMETERS = {*KEYS, AGE, RX, RX_MODE, RX_WINDOW, options.GROUP_BY, options.SEVERE, options.RESOLVED,
                    "patient_id", links.COHORT, links.FINGERPRINT}
_APPLIED = "cohort_filter_applied"


def _choices(con) -> dict[str, list]:
    found = store.filter_choices(con)
    return {
        "product": sorted({p.short for p in schema.PRODUCTS} | set(found["products"])),
        "costim": sorted({p.costimulatory_domain for p in schema.PRODUCTS} | set(found["costimulatory_domains"])),
        "target": sorted({p.target for p in schema.PRODUCTS} | set(found["targets"])),
        "disease": found["diseases"], "group": found["groups"], "sex": found["sexes"],
        "ecog": [int(e) for e in found["ecog"]], "max_crs": list(range(6)), "max_icans": list(range(6)),
        RX: [*schema.AGENT_CLASSES, *[a for a in found["agents"] if a not in schema.AGENT_CLASSES]],
        AGE: found["age_range"],
    }


def _drop_stale(key: str, allowed: list) -> None:
    # After a new cohort is loaded, a remembered choice may no longer exist: keep what still does.
    if key in st.session_state and isinstance(st.session_state[key], list):
        st.session_state[key] = [v for v in st.session_state[key] if v in allowed]


def clamp_range(value, low, high) -> tuple | None:
    """A remembered (from, to) range cut to [low, high]; the whole [low, high] (no restriction) when
    it does not overlap it; None when it cannot be read as a range."""
    try:
        start, end = sorted(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if end < low or start > high:  # nobody of the new cohort is in the old range: do not restrict
        return (low, high)
    return (max(start, low), min(end, high))


def _clamp_stale_range(key: str, low, high) -> None:
    # After another cohort is loaded the remembered age range may lie outside the new cohort's
    # ages; Streamlit would then refuse the slider (StreamlitValueBelowMinError) and break the sidebar.
    bounds_key = f"{key}_slider_bounds"  # the range the slider was last drawn with (the cohort's ages)
    previous = st.session_state.get(bounds_key)
    st.session_state[bounds_key] = (low, high)
    if key not in st.session_state:
        return
    if previous is not None and previous != (low, high) and tuple(st.session_state[key]) == tuple(previous):
        # the old cohort's whole range is no restriction, and must not become one on the new cohort
        del st.session_state[key]
        return
    clamped = clamp_range(st.session_state[key], low, high)
    if clamped is None:
        del st.session_state[key]
    elif clamped != tuple(st.session_state[key]):
        st.session_state[key] = clamped


def show_filter_panel() -> CohortFilter:
    """The filter controls; applies the filter to this session's database and returns it."""
    con = session.connection()
    choices = _choices(con)
    _note_link_problems(choices)
    with st.sidebar.expander("Cohort filters", expanded=False, icon=":material/filter_alt:"):
        chosen = {}
        for key, attribute in KEYS.items():
            _drop_stale(key, choices[key])
            chosen[attribute] = tuple(st.multiselect(LABELS[key], choices[key], key=key, bind="query-params"))
        age_range = None
        if choices[AGE] is not None and choices[AGE][0] < choices[AGE][1]:
            low, high = choices[AGE]
            _clamp_stale_range(AGE, low, high)
            picked = st.slider("Age (years)", low, high, (low, high), key=AGE, bind="query-params")
            picked = sorted(picked)  # a link edited by hand may give the two ends the other way round
            age_range = None if tuple(picked) == (low, high) else (float(picked[0]), float(picked[1]))
        _drop_stale(RX, choices[RX])
        names = st.multiselect("Interventions (class or agent)", choices[RX], key=RX, bind="query-params")
        # bound to the URL: the shown option is the link value (any / all / none)
        mode = st.radio("Patients who received", list(MODES), key=RX_MODE, horizontal=True,
                        bind="query-params", help="any: at least one of them; all: every one; none: none of them.")
        window = st.number_input("…started within N days after severe-ICANS onset", min_value=0, max_value=365,
                                 value=None, step=1, key=RX_WINDOW, bind="query-params",
                                 help="Leave empty for any time. Onset uses the sidebar's severe ICANS grade.")
        _note_link_window(window)
    cohort_filter = CohortFilter(
        **chosen, age_range=age_range,
        intervention=InterventionFilter(tuple(names), mode, None if window is None else float(window),
                                        options.current().episodes.severe_grade))
    if st.session_state.get(_APPLIED) != (cohort_filter, store.cohort_info(con)["loaded_at"]):
        store.select_patients(con, cohort_filter)
        st.session_state[_APPLIED] = (cohort_filter, store.cohort_info(con)["loaded_at"])
    st.session_state["cohort_filter_lines"] = describe(cohort_filter)
    for note in st.session_state.get(_LINK_NOTES, []):
        st.sidebar.caption(note)
    return cohort_filter


_LINK_NOTES = "link_notes"


def _note_link_problems(choices: dict[str, list]) -> None:
    """Say which parts of an opened link were not understood (Streamlit drops them silently).

    Read before the bound widgets claim the parameters; kept for the session, since the
    parameters are gone from the address after the first run.
    """
    if _LINK_NOTES in st.session_state:
        return
    notes = []
    invalid = [f"{key}={plain(value)}" for key in [*KEYS, RX] for value in st.query_params.get_all(key)
               if value not in {str(c) for c in choices[key]}]
    if invalid:
        notes.append(f"Ignored link value(s) not found in this cohort: {', '.join(invalid)}; "
                     "those filters were left open.")
    ages = st.query_params.get_all(AGE)
    if ages and not _age_link_ok(ages, choices[AGE]):
        bounds = choices[AGE]
        takes = (f"two numbers from {bounds[0]:g} to {bounds[1]:g} (the cohort's ages)" if bounds is not None
                 and bounds[0] < bounds[1] else "nothing here (this cohort's ages do not vary)")
        notes.append(f"Ignored link value(s) {', '.join(f'{AGE}={plain(v)}' for v in ages)}: the age filter takes "
                     f"{takes}; it was left open.")
    st.session_state[_LINK_WINDOW] = st.query_params.get_all(RX_WINDOW)  # what the widget took is known after it
    st.session_state[_LINK_NOTES] = notes


_LINK_WINDOW = "link_rx_window"


def _note_link_window(window) -> None:
    """Once, after the days-after-onset box took the opened link's value: say if it did not take it as written."""
    given = st.session_state.pop(_LINK_WINDOW, None)
    if not given:
        return
    written = ", ".join(f"{RX_WINDOW}={plain(v)}" for v in given)
    if window is None:
        note = (f"Ignored link value(s) {written}: the days after onset take one whole number from 0 to 365; "
                "any time was used.")
    elif len(given) == 1 and _number(given[0]) == float(window):
        return
    else:
        note = f"The link's {written} was read as {RX_WINDOW}={window:g} (one whole number from 0 to 365)."
    st.session_state[_LINK_NOTES] = [*st.session_state.get(_LINK_NOTES, []), note]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _age_link_ok(values: list[str], bounds) -> bool:
    """Whether the slider takes the link's age values: two numbers within the cohort's ages."""
    numbers = [_number(v) for v in values]
    return (bounds is not None and bounds[0] < bounds[1] and len(numbers) == 2
            and all(n is not None and bounds[0] <= n <= bounds[1] for n in numbers))


# Page options are keyed by their page (views/*.py): cytokines_days, swimlanes_page, patient_days, ...
PAGE_OPTION_PREFIXES = ("cytokines_", "expansion_", "patient_", "resolution_", "swimlanes_", "treatments_")


def unknown_parameters(opened_with: list[str], known: set[str]) -> list[str]:
    """The parameters of the opened link that neither the app nor the page's widgets use."""
    return sorted(set(opened_with) - KNOWN_PARAMETERS - known)


def note_unknown_parameters() -> None:
    """After the page ran: name the opened link's parameters nothing used (Streamlit drops them silently).

    A page's own options (resolution_ci, ...) are widgets keyed by their parameter, so they are in
    the session state once the page has drawn them: they were applied, not ignored."""
    if "link_unknown_noted" not in st.session_state:
        st.session_state["link_unknown_noted"] = unknown_parameters(
            list(links.initial_parameters()), {key for key in st.session_state if isinstance(key, str)})
        st.session_state["link_unapplied_noted"] = unapplied_values(links.initial_parameters(), st.session_state)
        st.session_state["link_repeated_noted"] = repeated_values(links.initial_parameters(), st.session_state)
    unknown = st.session_state["link_unknown_noted"]
    # another page's option (cytokines_days on Overview): known to the app, only not used here
    elsewhere = [p for p in unknown if p.startswith(PAGE_OPTION_PREFIXES)]
    unknown = [p for p in unknown if p not in elsewhere]
    if unknown:
        # the link is anyone's text: shown as text, never as markdown (a link or remote image)
        st.sidebar.caption(f"Ignored link parameter(s) the app does not know: {', '.join(map(plain, unknown))}.")
    if elsewhere:
        st.sidebar.caption(f"Ignored link parameter(s) of another page's options, which this page does not use: "
                           f"{', '.join(map(plain, elsewhere))}.")
    unapplied = st.session_state["link_unapplied_noted"]
    if unapplied:
        st.sidebar.caption(f"Ignored link value(s) this page does not offer: {', '.join(map(plain, unapplied))}; "
                           "those options kept their defaults.")
    for key, given, used in st.session_state.get("link_repeated_noted", []):
        st.sidebar.caption(f"The link gives {plain(key)} more than once ({', '.join(map(plain, given))}): "
                           f"{plain(used)} was used.")


def _same(link_value: str, value) -> bool:
    if isinstance(value, bool):
        return link_value.lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(link_value) == float(value)
        except ValueError:
            return False
    return link_value == str(value)


def _taken(link_value: str, key: str, value) -> bool:
    mapped = links.old_label_value(key, link_value)
    return _same(link_value, value) or (mapped is not None and _same(mapped, value))


def unapplied_values(opened_with: dict[str, list[str]], state) -> list[str]:
    """`key=value` of the opened link's page options whose value the widget did not take (Streamlit drops a
    value that is not an option silently): a single value the widget does not hold, or one of several (a
    multiselect's choices, a range slider's two ends) that is not among the widget's. Filters are checked by
    _note_link_problems; a single-valued option given more than once, by repeated_values."""
    found = []
    for key, values in opened_with.items():
        if key in KEYS or key in {RX, AGE, RX_WINDOW, "patient_id"} or key not in state:
            continue
        value = state[key]
        if isinstance(value, (list, tuple)):
            found += [f"{key}={v}" for v in values
                      if not (v == "" and not value) and not any(_taken(v, key, x) for x in value)]
            continue
        if value is None or isinstance(value, (dict, set)) or len(values) != 1:
            continue
        if not _taken(values[0], key, value):
            found.append(f"{key}={values[0]}")
    return found


def repeated_values(opened_with: dict[str, list[str]], state) -> list[tuple[str, list[str], str]]:
    """(key, the values given, the value used) of each single-valued option the link gives more than once
    (?severe_grade=2&severe_grade=4): Streamlit takes one of them without a word, and the link reads both ways."""
    found = []
    for key, values in opened_with.items():
        if len(values) < 2 or key in KEYS or key in {RX, RX_WINDOW} or key not in state:  # rx_window: its own note
            continue
        value = state[key]
        if value is None or isinstance(value, (list, tuple, dict, set)):
            continue
        found.append((key, list(values), str(value)))
    return found


def show_selection_size(cohort_filter: CohortFilter) -> None:
    """How many patients the filter keeps, overall and per group; what to do when none."""
    counts = store.selection_counts(session.connection(), options.current().group_by)
    selected, total = int(counts["selected"].sum()), int(counts["total"].sum())
    if cohort_filter.is_empty:
        st.sidebar.caption(f"All {total:,} patients selected (no filter)." if total != 1 else
                           "The cohort's 1 patient is selected (no filter).")
        return
    st.sidebar.markdown(f"**{selected:,} of {plural(total, 'patient')} selected**  \n"
                        + "  \n".join(f"{plain(g)}: {s:,} of {t:,}" for g, s, t in counts.itertuples(index=False)))
    st.sidebar.caption("Filter: " + "; ".join(map(plain, describe(cohort_filter))))
    if selected == 0:
        st.sidebar.warning("No patient matches every filter. Remove a choice (the × on it) or widen the age "
                           "range; filters combine with AND.")
