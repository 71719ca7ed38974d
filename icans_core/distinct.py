"""Work done once per distinct value of a column, not once per cell.

A registry repeats a handful of names (analytes, units, agents, vocabulary words) millions of
times; looking each distinct value up once and spreading the answers by position costs a hash of
the column, where a per-cell map of object text costs a Python call and a missing-value scan each.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd


def map_distinct(values: pd.Series, function: Callable[[object], object]) -> pd.Series:
    """`function` of each present value, called once per distinct value; a missing cell is None.

    An object Series on `values`' index: what `values.map(function)` gives for the present values,
    with None (not NaN) where the cell is empty.
    """
    codes, distinct = pd.factorize(values)  # an empty cell has code -1
    answers = np.empty(len(distinct) + 1, dtype=object)
    for position, value in enumerate(distinct):
        answers[position] = function(value)
    answers[-1] = None  # what code -1 takes
    return pd.Series(answers[codes], index=values.index, name=values.name)
