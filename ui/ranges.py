"""A range slider's value as a page uses it: the two ends in order, and a range of some width.

A slider bound to the URL takes a hand-edited link's two ends as given, the other way round too
(?swimlanes_days=60&swimlanes_days=-5), and a user can drag both handles onto one day. The analyses
take a range that runs forwards (icans_core.swimlanes refuses any other), so the page reads the ends
in order, and where a view needs width, widens a single day to the next one, saying so under the slider.
"""

from __future__ import annotations

import streamlit as st


def ordered(picked) -> tuple:
    """The slider's two ends, lower first (as the slider gives them: whole days stay int)."""
    low, high = sorted(picked)
    return low, high


def with_width(picked, where=st) -> tuple[float, float]:
    """The ends in order; both on one day d: d to d + 1, with a caption (in `where`, the slider's column)."""
    low, high = (float(v) for v in ordered(picked))
    if low == high:
        where.caption(f"Both ends are on day {low:g}: days {low:g} to {low + 1:g} are shown.")
        high = low + 1
    return low, high
