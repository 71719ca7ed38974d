"""Natural order of patient ids: the numpy path for numbered ids agrees with natural_key on every id."""

from __future__ import annotations

import numpy as np

from icans_core import id_order
from icans_core.id_order import natural_key, natural_ranks


def _by_key(ids: list[str]) -> list[str]:
    return sorted(ids, key=natural_key)  # sorted() is stable: ties keep their order


def _by_ranks(ids: list[str]) -> list[str]:
    ranks = natural_ranks(ids)
    assert sorted(ranks.tolist()) == list(range(len(ids)))  # a place each, none shared
    return [ids[i] for i in np.argsort(ranks)]


def test_numbers_compare_as_numbers_and_ties_keep_their_order():
    ids = ["P10", "P01", "7", "P2", "Q1", "P1", "10", "p3", "P-4", "R5", "P9"]
    expected = ["7", "10", "P01", "P1", "P2", "P9", "P10", "P-4", "Q1", "R5", "p3"]  # "P" < "P-" < "Q" < "p"
    assert _by_key(ids) == expected
    assert id_order._prefix_number_order(np.asarray(ids, dtype=object)) is not None  # the numpy path took it
    assert _by_ranks(ids) == expected


def test_ids_of_other_shapes_take_natural_key():
    # two numbers, a line break after the number, a superscript two (a digit to isdigit(), not to \d), another
    # script's digit (a digit to Python's \d, not to Arrow's), a number past int64, no number at all: none is a
    # prefix and one number, and none breaks the order
    for ids, expected in ((["A2B1", "A1B2", "A1B10"], ["A1B2", "A1B10", "A2B1"]),
                          (["P1\n", "P1"], ["P1", "P1\n"]),
                          (["A1²", "A2", "A1"], ["A1", "A1²", "A2"]),
                          (["P٣1", "P4"], ["P4", "P٣1"]),  # an Arabic-Indic three, then a one: 31
                          (["P" + "9" * 30, "P2"], ["P2", "P" + "9" * 30]),
                          (["b", "a"], ["a", "b"])):
        assert id_order._prefix_number_order(np.asarray(ids, dtype=object)) is None
        assert _by_ranks(ids) == expected
        assert _by_key(ids) == expected


def test_no_ids():
    assert natural_ranks([]).tolist() == []
