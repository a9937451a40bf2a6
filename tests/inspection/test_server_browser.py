"""The grading page end to end in a real headless Chromium (Debian's chromium + chromium-driver).

Drives the browser through chromedriver (WebDriver, via selenium): open the
page, grade with the keyboard, undo, reload, switch to the grid, then check
the grades CSV on disk. Skipped only when chromium/chromedriver (or selenium)
is not installed.
"""

from __future__ import annotations

import csv
import shutil
import threading

import pytest

import numpy as np
import pandas as pd

from lensfinder.inspection import server as grading
from lensfinder.plots.stamps import render_stamp_png
from lensfinder.io import write_table
from lensfinder.inspection.grades import read_grades

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1000,900"]


EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>&\"q\", KiDS"
IDS = ["KiDSDR4 J000000.000-280000.0", EVIL, "obj,with,commas", "plain"]


def make_set(directory):
    rng = np.random.default_rng(0)
    pngs = []
    for k in range(len(IDS)):
        pngs.append(f"png/s{k}.png")
        render_stamp_png(directory / pngs[-1], rng.normal(size=(9, 9)), upscale=1)
    write_table(pd.DataFrame({"object_id": IDS, "display_name": IDS, "png": pngs, "order": range(len(IDS))}),
                directory / "manifest.parquet")


@pytest.fixture
def served_set(tmp_path):
    make_set(tmp_path / "set")
    session = grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "grades.csv")
    srv = grading.make_server(session, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", tmp_path / "grades.csv"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def _ready(driver):
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _graded(driver):
    return int(driver.execute_script("return document.body.dataset.graded || '-1'"))


def _press(driver, key, expect_graded):
    driver.find_element(By.TAG_NAME, "body").send_keys(key)
    _wait(driver, lambda d: _graded(d) == expect_graded)


def test_grade_with_keyboard_undo_reload(served_set, browser):
    url, grades_csv = served_set
    browser.get(url)
    _ready(browser)
    assert browser.find_element(By.ID, "progress").text == f"0 / {len(IDS)} graded"
    assert browser.execute_script("return document.body.dataset.current") == IDS[0]

    _press(browser, "a", 1)  # IDS[0] -> A
    # the hostile id is shown as text, not run as markup
    assert browser.execute_script("return document.body.dataset.current") == EVIL
    assert EVIL in browser.find_element(By.ID, "current-name").text
    assert browser.execute_script("return document.scripts.length") == 1
    assert browser.execute_script("return typeof window.alert") == "function"  # no alert opened either

    _press(browser, "c", 2)  # EVIL -> C
    _press(browser, "u", 1)  # undo: back on EVIL
    assert browser.execute_script("return document.body.dataset.current") == EVIL
    assert "undid C" in browser.find_element(By.ID, "status").text
    _press(browser, "B", 2)  # EVIL -> B (shift works too)
    _press(browser, Keys.BACKSPACE, 1)  # undo again
    _press(browser, "d", 2)  # EVIL -> D

    # every grade is already in the file before the page is reloaded
    with open(grades_csv, newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[:3] for r in rows] == [["object_id", "inspector", "grade"],
                                     [IDS[0], "ann", "A"], [EVIL, "ann", "C"], [EVIL, "ann", "UNDO"],
                                     [EVIL, "ann", "B"], [EVIL, "ann", "UNDO"], [EVIL, "ann", "D"]]

    browser.refresh()  # resume: graded objects are skipped
    _ready(browser)
    assert _graded(browser) == 2
    assert browser.find_element(By.ID, "progress").text == f"2 / {len(IDS)} graded"
    assert browser.execute_script("return document.body.dataset.current") == IDS[2]

    browser.find_element(By.TAG_NAME, "body").send_keys("g")  # grid view with grade badges
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .cell")) == len(IDS))
    badges = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#grid .cell .badge")]
    assert badges == ["A", "D", "", ""]
    names = [n.text for n in browser.find_elements(By.CSS_SELECTOR, "#grid .cell .name")]
    assert names == IDS
    browser.find_elements(By.CSS_SELECTOR, "#grid .cell")[3].click()  # pick the last one
    _wait(browser, lambda d: d.execute_script("return document.body.dataset.current") == IDS[3])
    _press(browser, "a", 3)
    _press(browser, "b", 4)  # then the remaining one (IDS[2])
    _wait(browser, lambda d: d.find_element(By.ID, "done").is_displayed())
    images_ok = browser.execute_script(
        "return Array.from(document.images).filter(i => i.src.includes('/png/')).every(i => i.naturalWidth > 0)")
    assert images_ok

    effective = read_grades(grades_csv, "li2020", valid_ids=set(IDS))
    assert dict(zip(effective["object_id"], effective["grade"])) == {IDS[0]: "A", EVIL: "D", IDS[3]: "A",
                                                                     IDS[2]: "B"}
    # no JavaScript error, CSP violation or failed request on the way
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
