"""A headless Debian Chromium driven through chromedriver (selenium), for the tests of web pages."""

from __future__ import annotations

import contextlib
import shutil

import pytest

__all__ = ["CHROMIUM", "CHROMEDRIVER", "headless_chromium"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--no-first-run")


@contextlib.contextmanager
def headless_chromium(profile_dir, window=(1200, 900)):
    """A WebDriver for a fresh headless Chromium profile in ``profile_dir``; the test is skipped without one."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (tests/install_system_deps.sh)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
