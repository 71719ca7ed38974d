"""Shared fixtures: Streamlit caches cleared around every test (AppTest pages share a process);
the browser-test fixtures (app_url, page) live in tests/browser.py."""

import pytest
import streamlit as st

pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
