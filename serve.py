"""The deployed entry point: `streamlit run serve.py` runs dashboard.py behind the browser gate.

`streamlit run` finds the `app` below (an st.App) and serves it with uvicorn, exactly as it serves
dashboard.py, plus one ASGI middleware (ui/browser_gate.py) that lets a session's websocket and
its downloads through only for the browser the session belongs to. dashboard.py on its own
(AppTest, `streamlit run dashboard.py`) still binds sessions to their browser (ui/access.py),
but serves downloads to anyone with their URL: deployments run this file.
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.browser_gate import BrowserGate

app = st.App("dashboard.py", middleware=[Middleware(BrowserGate)])
