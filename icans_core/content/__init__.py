"""One definition per view: each module's `build(con, analysis, options)` returns the view's sections
(figures with their data and file stem, tables, captions; see sections.py), computed by the core from the
connection's selected patients. The Streamlit pages, the HTML report and the PDF report render these same
sections; none of them composes a view again. Adding a figure or a table to a view is one entry in its
module's `build`.
"""

from __future__ import annotations

from icans_core.cancel import checkpoint
from icans_core.content import cytokines, expansion, overview, resolution, swimlanes, treatments

# The analysis views in the order the navigation and the report show them.
VIEWS = {"overview": overview, "swimlanes": swimlanes, "cytokines": cytokines, "resolution": resolution,
         "treatments": treatments, "expansion": expansion}


def build_all(con, analysis) -> list:
    """Every view with its default options (as a page shows it before any choice), in report order."""
    views = []
    for module in VIEWS.values():
        checkpoint()
        views.append(module.build(con, analysis))
    return views
