"""Shared fixtures: the browser-test fixtures (app_url, page) live in tests/browser.py."""

pytest_plugins = ["tests.browser"]
