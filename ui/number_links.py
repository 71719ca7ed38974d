"""A link with an infinite whole number (?rx_window=inf, ?swimlanes_page=1e400) is an invalid value, not a crash.

Streamlit (1.67) seeds a number box bound to the URL with NumberInputSerde.deserialize, which makes the link's
value an int: int(inf) raises OverflowError, and the seeding catches only ValueError, TypeError and IndexError
(an invalid value: the parameter is dropped). So the run stopped with an error box: in the sidebar its filters
were lost and the page showed the whole cohort while the link named a filter (found by an adversarial pass).
Here an OverflowError there is a ValueError, and such a value is dropped as any other invalid one is, and named
by the link notes (ui/filters.py). A number from the browser is always finite: only links reach this.
tests/test_links.py fails if Streamlit's seeding changes so that this no longer applies.
"""

from __future__ import annotations

import threading

from streamlit.elements.widgets.number_input import NumberInputSerde

_lock = threading.Lock()
_INSTALLED = "_icans_finite_links"


def install() -> None:
    """Make NumberInputSerde.deserialize raise ValueError where int() overflows (idempotent)."""
    with _lock:
        if getattr(NumberInputSerde, _INSTALLED, False):
            return
        deserialize = NumberInputSerde.deserialize

        def finite_deserialize(self, ui_value):
            try:
                return deserialize(self, ui_value)
            except OverflowError as exc:  # int(inf): a value no number box holds
                raise ValueError(f"not a finite number: {ui_value!r}") from exc

        NumberInputSerde.deserialize = finite_deserialize
        setattr(NumberInputSerde, _INSTALLED, True)
