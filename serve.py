"""The deployed entry point: `streamlit run serve.py` runs dashboard.py behind the browser gate.

`streamlit run` finds the `app` below (an st.App) and serves it with uvicorn, exactly as it serves
dashboard.py, plus one ASGI middleware (ui/browser_gate.py) that lets a session's websocket and
its downloads through only for the browser the session belongs to. dashboard.py on its own
(AppTest, `streamlit run dashboard.py`) still binds sessions to their browser (ui/access.py),
but serves downloads to anyone with their URL: deployments run this file. It also starts preparing
the deployment cohort ($ICANS_COHORT) at once, in the background (icans_core/shared_cache.py).
"""

import os

import streamlit as st
from starlette.middleware import Middleware

from icans_core import shared_cache
from ui import preload
from ui.browser_gate import BrowserGate
from ui.session import COHORT_ENV

# Before any session or preparation exists: the pages' libraries are imported and frozen out of the
# collection Streamlit makes after every script run (0.16 s a run otherwise; ui/preload.py).
preload.freeze_imports()

# The deployment cohort is validated (or found in the cache) while the server starts, not when the
# first visitor asks for it: that visitor then waits for the rest of it with a progress bar, or not at all.
shared_cache.start_preparing(os.environ.get(COHORT_ENV, "").strip())

app = st.App("dashboard.py", middleware=[Middleware(BrowserGate)])
