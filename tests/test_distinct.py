"""map_distinct (icans_core/distinct.py): a per-cell map, computed once per distinct value."""

import numpy as np
import pandas as pd
import pytest

from icans_core.distinct import map_distinct


@pytest.mark.parametrize("dtype", [object, "string[pyarrow]"])
def test_each_present_value_is_mapped_once_and_an_empty_cell_is_none(dtype):
    cells = pd.Series(["b", None, "a", "b", np.nan if dtype is object else None, "a"], index=[7, 3, 5, 2, 9, 4],
                      dtype=dtype, name="agent")
    calls = []

    def upper(value):
        calls.append(value)
        return value.upper()

    mapped = map_distinct(cells, upper)
    assert sorted(calls) == ["a", "b"]  # once each, however often they repeat
    assert mapped.tolist() == ["B", None, "A", "B", None, "A"]
    assert [type(v) for v in mapped] == [str, type(None), str, str, type(None), str]  # None, not NaN or NA
    assert mapped.index.tolist() == [7, 3, 5, 2, 9, 4] and mapped.name == "agent" and mapped.dtype == object


def test_an_empty_column_maps_to_an_empty_column():
    assert map_distinct(pd.Series([], dtype=object), str.upper).tolist() == []
    assert map_distinct(pd.Series([None, None], dtype=object), str.upper).tolist() == [None, None]
