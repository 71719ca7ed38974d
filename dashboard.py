"""Entry point: `streamlit run dashboard.py`. Page setup and navigation; pages do the rest."""

import logging

import streamlit as st

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="CAR-T toxicity cohorts", page_icon=":material/monitor_heart:", layout="wide")

pages = [
    st.Page("pages/cohort.py", title="Cohort", icon=":material/groups:", default=True),
]
st.navigation(pages).run()
