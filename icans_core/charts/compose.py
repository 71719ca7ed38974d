"""Altair's compound charts (layer, concat, facet) without its defensive copies when there is nothing to merge.

Every LayerChart, HConcatChart, VConcatChart, ConcatChart and FacetChart Altair builds runs
`_remove_duplicate_params` and `_combine_subchart_params` on its subcharts. Both deep-copy every
subchart first, to merge the selection parameters of the subcharts into one list and to name the
views they apply to, and a chart nested in a layer, in a concatenation, under a title copies its tree
once per level: 100,000 small copies for the Swimlanes chart, a third of a chart's build, on every
rerun. The app's figures mostly have no parameter at all; for such a chart both functions only copy.

install() wraps the two so that, when neither the compound chart nor any chart inside it has a
parameter or a view name, the subcharts are used as given (Altair's chart methods copy on change,
and nothing here changes a subchart after it is composed); otherwise Altair's own function runs.
Only on the Altair version this was checked against (tests/test_charts_compose.py builds every
figure of every view, with several options, both ways, and compares the specs byte for byte);
another version is left exactly as it is.
"""

from __future__ import annotations

import altair as alt
from altair.utils import Undefined
from altair.vegalite.v6 import api

CHECKED_VERSION = "6.3.0"
_CHILDREN = ("layer", "hconcat", "vconcat", "concat")
_ORIGINAL = {"_remove_duplicate_params": api._remove_duplicate_params,
             "_combine_subchart_params": api._combine_subchart_params}


def _plain(chart) -> bool:
    """No parameter and no view name in the chart or anywhere inside it: nothing for Altair to merge."""
    kwds = getattr(chart, "_kwds", None)
    if kwds is None:
        return False  # not a schema object: let Altair decide
    params = kwds.get("params", Undefined)
    if params is not Undefined and params:
        return False
    if kwds.get("name", Undefined) is not Undefined:
        return False
    for attr in _CHILDREN:
        children = kwds.get(attr, Undefined)
        if children is not Undefined and not all(_plain(child) for child in children):
            return False
    spec = kwds.get("spec", Undefined)  # a facet's or repeat's inner chart (a dict is not plain: Altair decides)
    return spec is Undefined or _plain(spec)


def _remove_duplicate_params(layer):
    if all(_plain(chart) for chart in layer):
        return list(layer)
    return _ORIGINAL["_remove_duplicate_params"](layer)


def _combine_subchart_params(params, subcharts):
    if (params is Undefined or not params) and all(_plain(chart) for chart in subcharts):
        return Undefined, list(subcharts)
    return _ORIGINAL["_combine_subchart_params"](params, subcharts)


def install() -> bool:
    """Use the wrapped functions (on the checked Altair version only); True if they are in use."""
    if alt.__version__ != CHECKED_VERSION:
        return False
    api._remove_duplicate_params = _remove_duplicate_params
    api._combine_subchart_params = _combine_subchart_params
    return True


def uninstall() -> None:
    """Altair's own functions again (for the test that compares both)."""
    for name, function in _ORIGINAL.items():
        setattr(api, name, function)
