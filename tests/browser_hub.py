"""Playwright with Debian's chromium for the hub's browser tests (never `playwright install`)."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from conftest import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                  "--disable-dev-shm-usage"]
ARTIFACTS = REPO / "artifacts" / "browser"


def chromium_missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} not found: apt-get install chromium (deploy/debian-packages.txt lists it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing from the course venv"
    return None


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
                                              headless=True)
        try:
            yield instance
        finally:
            instance.close()


class Screenshots:
    """Numbered screenshots of a test, kept under artifacts/browser/ (git ignores artifacts/)."""

    def __init__(self, name: str):
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, label: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{label}.png"
        page.screenshot(path=str(path))
        return path


@pytest.fixture(scope="module")
def hub(course_hub):
    """The shared course hub, for a test that drives chromium (imported by the browser tests)."""
    problem = chromium_missing()
    if problem:
        pytest.fail(problem)
    return course_hub


def hub_login(page, hub_url: str, name: str, password: str) -> None:
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
