"""A page whose download always fails, for tests/test_browser_download_failure.py (run by `streamlit run`)."""

import streamlit as st

from ui import downloads, errors


def build() -> str:
    raise RuntimeError("the builder broke")


with errors.reported("this page"):
    st.write("A page with a download that fails.")
    st.download_button("Download the file", downloads.owned(build, "the test file"), file_name="file.csv",
                       mime="text/csv", on_click="ignore")
