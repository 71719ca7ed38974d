"""Shared fixtures: Streamlit caches cleared around every test (AppTest pages share a process);
the browser-test fixtures (app_url, page) live in tests/browser.py."""

import pytest
import streamlit as st

pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    from ui import view_cache  # its server-wide views of shared cohorts: a test's patched analysis must run

    st.cache_data.clear()
    st.cache_resource.clear()
    view_cache.forget_shared()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    view_cache.forget_shared()


@pytest.fixture(autouse=True, scope="session")
def cohort_cache_in_a_temporary_folder(tmp_path_factory):
    """Prepared deployment cohorts (icans_core/shared_cache.py) go to a folder of this test run, never to
    the checkout's .cache-data/ (servers started by browser tests inherit the variable)."""
    import os

    previous = os.environ.get("ICANS_CACHE_DIR")
    os.environ["ICANS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cohort-cache"))
    yield
    if previous is None:
        os.environ.pop("ICANS_CACHE_DIR", None)
    else:
        os.environ["ICANS_CACHE_DIR"] = previous


@pytest.fixture
def deferred(monkeypatch) -> list[dict]:
    """Every deferred download a page registers: its callable and file name, to run as a click would."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    registered: list[dict] = []
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        registered.append({"callable": data_callable, "mimetype": mimetype, "file_name": file_name})
        return original(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return registered
