"""The candidates' summary page (merge-scores --out-summary): content parsed from the HTML, then in headless Chromium."""

from __future__ import annotations

import base64
import csv
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.inspection.grades import NOTES_COLUMNS, notes_path
from lensfinder.io import write_table
from lensfinder.plots.stamps import render_stamp_png

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"arc\""
#: three candidates on the real sky (KiDS DR4 positions), one with a colour composite beside its r band
IDS = ["KiDSDR4 J002018.968-284111.45", "KiDSDR4 J002030.676-284111.97", "KiDSDR4 J002338.940-283853.98"]
RA, DEC = [5.079035, 5.127818, 5.912251], [-28.686515, -28.686661, -28.648329]


def _make(tmp_path: Path) -> Path:
    """Inspection set, grades, notes and cross-match of three candidates; returns the summary page's path."""
    rng = np.random.default_rng(3)
    pngs = []
    for k in range(len(IDS)):
        pngs.append(f"png/c{k}.png")
        render_stamp_png(tmp_path / "set" / pngs[-1], rng.normal(size=(12, 12)))
    render_stamp_png(tmp_path / "set" / "png/c0_gri.png", *rng.normal(size=(3, 12, 12)))
    write_table(pd.DataFrame({"object_id": IDS, "display_name": IDS, "png": pngs,
                              "png_gri": ["png/c0_gri.png", "", ""], "order": range(3), "stamps_row": range(3),
                              "stamps_r": "stamps_r.fits"}), tmp_path / "set" / "manifest.parquet")
    write_table(pd.DataFrame({"object_id": IDS, "p_cnn": [0.99, 0.95, 0.9], "ra": RA, "dec": DEC,
                              "samples": ["lrg_li2020", "bg_li2020", "lrg_li2020;bg_li2020"], "model": "resnet18",
                              "p_cnn_round1": [0.97, 0.5, 0.2]}), tmp_path / "pred.parquet")
    write_table(pd.DataFrame({"object_id": IDS, "known_lens": [False, True, False],
                              "lenscat_name": ["", "KiDS J0020-2841", ""], "lenscat_grading": ["", "probable", ""],
                              "separation_arcsec": [np.nan, 0.73, np.nan]}), tmp_path / "xm.parquet")
    grades = tmp_path / "grades.csv"
    grades.write_text("object_id,inspector,grade,time\n" + "".join(
        f"{oid},{who},{g},t\n" for oid, gs in zip(IDS, ("AAB", "BCB", "DDC")) for who, g in zip(("ann", "bob", "cy"), gs)))
    with open(notes_path(grades), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(NOTES_COLUMNS)
        writer.writerow([IDS[0], "bob", "interesting non-lens", "ring galaxy?", "t"])
        writer.writerow([IDS[0], "cy", "artefact", EVIL, "t"])
    out = tmp_path / "summary" / "index.html"
    assert main(["merge-scores", "--predictions", str(tmp_path / "pred.parquet"), "--grades", str(grades),
                 "--crossmatch", str(tmp_path / "xm.parquet"), "--manifest", str(tmp_path / "set/manifest.parquet"),
                 "--survey", "kids_dr4", "--out", str(tmp_path / "ranked.parquet"), "--out-summary", str(out)]) == 0
    return out


class _Page(HTMLParser):
    """Sections (id -> text) and images (id -> [(alt, src)]) of the summary page; every tag seen."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self.images: dict[str, list[tuple[str, str]]] = {}
        self.links: list[str] = []
        self.tags: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self._current = attrs["id"]
            self.sections[self._current] = []
            self.images[self._current] = []
        elif tag == "img" and self._current:
            self.images[self._current].append((attrs["alt"], attrs["src"]))
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_data(self, data):
        if self._current and data.strip():
            self.sections[self._current].append(data.strip())


def test_summary_page_content(tmp_path):
    out = _make(tmp_path)
    page = _Page()
    page.feed(out.read_text())
    ranked = pd.read_parquet(tmp_path / "ranked.parquet")
    assert list(page.sections) == ["KiDSDR4_J002018.968-284111.45", "KiDSDR4_J002030.676-284111.97",
                                   "KiDSDR4_J002338.940-283853.98"]  # rank order, anchors from the ids
    assert [f"#{a}" for a in page.sections] == [h for h in page.links if h.startswith("#")]
    first = page.sections["KiDSDR4_J002018.968-284111.45"]
    assert first[0] == f"1. {ranked['name'].iloc[0]}"
    # stamps embedded byte for byte: r band (labelled by the set's bands) and the colour composite
    labels = [(alt, base64.b64decode(src.split(",", 1)[1])) for alt, src in page.images[list(page.sections)[0]]]
    assert [alt.split(": ")[1] for alt, _ in labels] == ["r", "gri"]
    assert labels[0][1] == (tmp_path / "set/png/c0.png").read_bytes()
    assert labels[1][1] == (tmp_path / "set/png/c0_gri.png").read_bytes()
    # p_CNN per model and per round, grades with notes per inspector, cross-match
    text = " | ".join(first)
    for expected in ("resnet18 | 0.990000", "round1 | 0.970000", "ann | A", "bob | A | interesting non-lens | "
                     "ring galaxy?", "cy | B | artefact | " + EVIL, "no known lens", "LRG", "bands | r",
                     "00:20:18.968 -28:41:11.45"):
        assert expected in text, expected
    second = " | ".join(page.sections["KiDSDR4_J002030.676-284111.97"])
    assert "KiDS J0020-2841 (probable), 0.73 arcsec away" in second
    # the hostile comment is text: no script element, no injected image
    assert "script" not in page.tags and page.tags.count("img") == 4
    assert any(link.startswith("https://www.legacysurvey.org/viewer?ra=5.079035&dec=-28.686515") for link in page.links)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.browser
def test_summary_page_in_chromium(tmp_path):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (tests/install_system_deps.sh)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out = _make(tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1000,700",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER,
                                                               log_output=str(tmp_path / "chromedriver.log")))
    try:
        driver.set_page_load_timeout(30)
        driver.get(out.as_uri())
        assert driver.title == "Lens candidates"
        sections = driver.find_elements(By.TAG_NAME, "section")
        assert len(sections) == 3
        # every stamp decodes and is drawn
        assert driver.execute_script("return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert driver.execute_script("return document.images.length") == 4
        # the index links jump to the candidate
        driver.find_elements(By.CSS_SELECTOR, "table.index a")[2].click()
        assert driver.execute_script("return location.hash") == "#KiDSDR4_J002338.940-283853.98"
        top = driver.execute_script("return document.getElementById('KiDSDR4_J002338.940-283853.98')"
                                    ".getBoundingClientRect().top")
        assert abs(top) < 5
        # grades and notes as the reader sees them; the hostile comment is shown, not run
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in sections[0].find_elements(By.CSS_SELECTOR, "table.grades tr")[1:]]
        assert rows == [["ann", "A", "", ""], ["bob", "A", "interesting non-lens", "ring galaxy?"],
                        ["cy", "B", "artefact", EVIL]]
        assert driver.execute_script("return document.scripts.length") == 0
        pcnn = [td.text for td in sections[0].find_elements(By.CSS_SELECTOR, "table.pcnn td")]
        assert pcnn == ["resnet18", "0.990000", "round1", "0.970000"]
        assert "0.73 arcsec" in sections[1].find_element(By.CLASS_NAME, "crossmatch").text
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        driver.quit()


def test_summary_page_shows_the_grades_merge_scores_counted(tmp_path):
    # a hand-edited "obj1 " counts for obj1 in merge-scores (read_grades with valid ids strips it); the page
    # read the grades without them and dropped ann's grade; a mixed-in simulation's grades still read
    write_table(pd.DataFrame({"object_id": ["obj1", "obj2"], "p_cnn": [0.97, 0.9]}), tmp_path / "pred.parquet")
    write_table(pd.DataFrame({"object_id": ["sim-1"], "is_lens": [True]}), tmp_path / "known.parquet")
    grades = tmp_path / "grades.csv"
    out = tmp_path / "index.html"
    argv = ["merge-scores", "--predictions", str(tmp_path / "pred.parquet"), "--grades", str(grades),
            "--known", str(tmp_path / "known.parquet"), "--out", str(tmp_path / "ranked.parquet"),
            "--out-summary", str(out)]

    def page():
        parsed = _Page()
        parsed.feed(out.read_text())
        return parsed, out.read_text().split("<section", 1)[0]

    grades.write_text("object_id,inspector,grade,time\nobj1 ,ann,A,t\nobj1,bob,B,t\nobj1,cy,C,t\nobj2,ann,D,t\n"
                      "sim-1 ,ann,A,t\nsim-1,bob,B,t\n")
    assert main(argv) == 0
    ranked = pd.read_parquet(tmp_path / "ranked.parquet").set_index("object_id")
    assert ranked.loc["obj1", "n_graders"] == 3 and ranked.loc["obj2", "n_graders"] == 1
    sections, index = page()
    assert "ann | A | bob | B | cy | C" in " | ".join(sections.sections["obj1"])
    assert "<td>A B C</td>" in index and "<td>D</td>" in index
    # an undo written against the stripped id retracts the hand-edited grade, on the page as in the list
    with open(grades, "a") as fh:
        fh.write("obj2 ,bob,C,t\nobj2,bob,UNDO,t\n")
    assert main(argv) == 0
    sections, index = page()
    assert "ann | D" in " | ".join(sections.sections["obj2"]) and "bob" not in " | ".join(sections.sections["obj2"])
    assert "<td>D</td>" in index


def test_merge_scores_writes_no_ranked_list_when_its_page_fails(tmp_path):
    # a --notes file that is not there stops the page; the ranked list (written last) is not left behind
    # looking complete, and a rerun with the notes file fixed writes both
    write_table(pd.DataFrame({"object_id": ["obj1"], "p_cnn": [0.97]}), tmp_path / "pred.parquet")
    grades = tmp_path / "grades.csv"
    grades.write_text("object_id,inspector,grade,time\nobj1,ann,A,t\n")
    ranked, page = tmp_path / "ranked.parquet", tmp_path / "index.html"
    argv = ["merge-scores", "--predictions", str(tmp_path / "pred.parquet"), "--grades", str(grades),
            "--out", str(ranked), "--out-csv", str(tmp_path / "ranked.csv"), "--out-summary", str(page),
            "--notes", str(tmp_path / "notes.csv")]
    assert main(argv) == 2
    assert not ranked.exists() and not page.exists() and not (tmp_path / "ranked.csv").exists()
    (tmp_path / "notes.csv").write_text("object_id,inspector,flags,comment,time\n")
    assert main(argv) == 0
    assert ranked.exists() and page.exists()
    assert ranked.stat().st_mtime_ns >= page.stat().st_mtime_ns
