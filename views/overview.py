"""Overview: key numbers, Table 1 per group with its tests, maximum grades, and published series."""

import streamlit as st

from icans_core.content import overview
from ui import session
from ui.options import current
from ui.render import show_view
from ui.view_cache import cached_view

con = session.connection()
st.title("Overview")

analysis = current()
show_view(cached_view(overview.build, con, analysis))
