"""How a view's table reaches the grid (ui/render.py): styled cell by cell when small, numbers kept and
formatted by the grid when large (a registry's per-patient tables)."""

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from icans_core.content.sections import Table
from ui.render import STYLED_CELLS, number_formats, styled


def table(rows: int) -> Table:
    frame = pd.DataFrame({"patient_id": [f"P{i}" for i in range(rows)], "dose_mg": np.linspace(0, 1e5, rows),
                          "days": np.arange(rows), "p_value": np.full(rows, 0.0004), "share": np.full(rows, 0.25),
                          "median": np.full(rows, 2.25), "severe": np.arange(rows) % 2 == 0,
                          "resolution_day": [np.nan if i % 3 == 0 else float(i) for i in range(rows)]})
    return Table(frame, "t", "t", formats={"p_value": "p", "share": "percent", "median": ".1f"},
                 missing={"resolution_day": "not reached"})


def test_a_small_table_is_styled_as_the_reports_show_it():
    shown = styled(table(10))
    assert isinstance(shown, Styler)
    assert shown.data["resolution_day"].iloc[0] == "not reached"  # a blank is the reports' text, not "None"


def test_a_large_table_keeps_its_numbers_and_the_grid_formats_them():
    big = table(STYLED_CELLS // 8 + 1)  # eight columns: just over the limit
    shown = styled(big)
    assert not isinstance(shown, Styler)
    assert shown["dose_mg"].dtype == float and shown["days"].dtype == np.int64  # still sortable as numbers
    assert shown["resolution_day"].iloc[0] == "not reached"  # columns with blanks are the reports' text
    formats = {column: config["type_config"]["format"] for column, config in number_formats(big, shown).items()}
    assert formats == {"dose_mg": "%.6g", "days": "%d", "p_value": "%.3g", "share": "percent", "median": "%.1f"}
    assert list(shown["severe"][:2]) == ["yes", "no"]  # as the reports say it, not a checkbox
