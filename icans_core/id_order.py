"""Patient ids in natural order: runs of digits compare as numbers ("P2" before "P10").

One order for every page that lists patients (the Patient page's stepping, the Swimlanes lanes
ordered by patient), so a patient is never "next" on one page and elsewhere on another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute


def natural_key(patient_id) -> tuple:
    """An id's runs of digits (compared as numbers) and of other characters (compared as text), in order.
    A run is digits by the pattern's \\d (isdecimal): isdigit() would also take "²" of "A1²", which int() refuses."""
    return tuple((0, int(p), "") if p.isdecimal() else (1, 0, p) for p in re.split(r"(\d+)", str(patient_id)) if p)


def natural_ranks(ids: Sequence) -> np.ndarray:
    """Each id's place (0, 1, ...) in natural order; equal keys ("P1", "P01") keep their order in `ids`."""
    values = np.asarray(ids, dtype=object)
    order = _prefix_number_order(values)
    if order is None:
        order = np.array(sorted(range(len(values)), key=lambda i: natural_key(values[i])), dtype=np.int64)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return ranks


# Registries number their patients: a prefix without digits, then one number ("P00017", "17"). For such ids
# natural order is (ids with no prefix first, prefix, number), found with numpy: 100,000 ids in 0.06-0.09 s,
# against 0.75-1.0 s for a key per id. Any other id, or a number past int64 or in other than ASCII digits,
# takes natural_key. np.lexsort is stable, as sorted() is.
# Arrow's regular expressions (RE2): \D is anything but 0-9, so a prefix holding another script's digit
# (which Python's \d, and so natural_key, counts as a digit) is sent to natural_key.
_PREFIX_NUMBER = r"^(?P<prefix>\D*)(?P<number>[0-9]{1,18})$"


def _prefix_number_order(ids: np.ndarray) -> np.ndarray | None:
    """The positions of `ids` in natural order, or None when an id is not a prefix and one number."""
    if not all(isinstance(v, str) for v in ids):  # ids as stored are text; anything else: natural_key
        return None
    parts = pa_compute.extract_regex(pa.array(ids, type=pa.string()), _PREFIX_NUMBER)  # RE2's "$": the end only
    if parts.null_count:
        return None
    prefix = parts.field("prefix").to_numpy(zero_copy_only=False).astype(object)
    if any(c.isdecimal() for p in set(prefix) for c in p):
        return None
    number = pa_compute.cast(parts.field("number"), pa.int64()).to_numpy()
    prefix_code = pd.factorize(prefix, sort=True)[0]
    has_prefix = prefix != ""
    return np.lexsort((number, prefix_code, has_prefix))  # the last key sorts first
