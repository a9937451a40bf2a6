"""Exports of the ranked list (audit 28): LaTeX escaping, UTF-8 text files, p_cnn rounding, id lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lensfinder.inspection.catalogue import rounded
from lensfinder.inspection.export import read_id_list
from lensfinder.inspection.latex import ranked_latex, tex_escape
from lensfinder.inspection.summary import summary_html

#: p_CNN just below He et al.'s 0.999999 cut, and just below 1 at the 3 decimals of Li et al.'s table
BELOW_CUT, BELOW_ONE = 0.9999986, 0.9996


def _ranked(names, p_cnn=None) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame({
        "rank": range(1, n + 1), "object_id": [f"o{k}" for k in range(n)], "name": names,
        "p_cnn": p_cnn or [0.9] * n, "ra": 5.0, "dec": -28.0, "score_mean": 10.0, "score_rms": 0.0,
        "p_human": 0.9, "P": 0.81, "n_zero": 0, "quality": "golden", "score_sum": 6, "final_list": True,
        "further_vote": False})


def _data_rows(tex: str) -> list[str]:
    return tex.split("\\startdata\n", 1)[1].split("\\enddata", 1)[0].split("\n")[:-1]


@pytest.mark.parametrize(("text", "expected"), [
    ("par\n\nbreak", "par  break"),
    ("tab\tcr\rnul\x00del\x7f", "tab cr nul del "),
    ("<b>", r"\textless{}b\textgreater{}"),
    ('a"b|c', r"a\textquotedbl{}b\textbar{}c"),
    ("J0020\u22122841", "J0020$-$2841"),
    ("ok \u2713", "ok [U+2713]"),
    ("H\u00f6lzl \u00ed", r"H\"{o}lzl \'{\i}"),
    ("a--b", "a-{}-b"),
    ("zero\u200bwidth", "zerowidth"),
    ("100% a_b & c\\d", r"100\% a\_b \& c\textbackslash{}d"),
])
def test_tex_escape_writes_ascii_latex_for_any_text(text, expected):
    assert tex_escape(text) == expected


def test_a_name_with_line_breaks_stays_on_its_row_of_the_table():
    names = ["KiDS J0020\u22122841\n\nline", "<odd> \"name\" \u2713\x00"]
    tex = ranked_latex(_ranked(names), "li2020")
    rows = _data_rows(tex)
    assert len(rows) == 2 and all(row.strip() for row in rows)
    assert tex.isascii()
    assert rows[0].split(" & ")[1] == "KiDS J0020$-$2841  line"
    assert rows[1].split(" & ")[1].rstrip() == r"\textless{}odd\textgreater{} \textquotedbl{}name\textquotedbl{} [U+2713]"


def test_rounded_csv_rounds_p_cnn_down():
    df = pd.DataFrame({"object_id": ["x", "y"], "p_cnn": [BELOW_CUT, 0.25], "p_cnn_raw": [BELOW_CUT, 0.5],
                       "P": [0.69965, 0.1]})
    out = rounded(df)
    assert out["p_cnn"].tolist() == [0.999998, 0.25]
    assert out["p_cnn_raw"].tolist() == [0.999998, 0.5]


def test_latex_and_summary_round_p_cnn_down():
    ranked = _ranked(["a", "b"], p_cnn=[BELOW_CUT, BELOW_ONE])
    he = _data_rows(ranked_latex(ranked, "he2020"))
    assert [row.split(" & ")[-2] for row in he] == ["0.999998", "0.999600"]
    li = _data_rows(ranked_latex(ranked, "li2020"))
    assert [row.split(" & ")[-3] for row in li] == ["0.999", "0.999"]
    grades = pd.DataFrame({"object_id": ["o0"], "inspector": ["ann"], "grade": ["A"]})
    html = summary_html(ranked.assign(p_cnn_raw=[BELOW_CUT, 0.5]), grades, scheme="li2020")
    assert "<td>0.999999</td>" not in html and "<td>1.000</td>" not in html
    assert html.count("<td>0.999998</td>") == 2  # p_cnn and p_cnn_raw of o0
    assert html.count("<td>0.999</td>") == 2  # the index's p_CNN of both


def test_write_text_is_utf8_whatever_the_locale(tmp_path):
    out = tmp_path / "index.html"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONIOENCODING": "utf-8"}
    text = '<meta charset="utf-8"> H\u00f6lzl \u2713'
    code = ("import locale, sys\n"
            "from lensfinder.io import write_text\n"
            f"write_text({ascii(text)}, sys.argv[1])\n"
            "print(locale.getpreferredencoding(False))\n")
    done = subprocess.run([sys.executable, "-X", "utf8=0", "-c", code, str(out)], env=env,
                          capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    if done.stdout.strip().lower().replace("-", "") in ("utf8", ""):
        pytest.skip("this platform's C locale is UTF-8")
    assert out.read_bytes() == text.encode("utf-8")


def test_id_list_keeps_na_and_null_as_ids(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("object_id\nNA\nnull\n\nN/A\n00123\nnan\nplain\n")
    assert read_id_list(path) == ["NA", "null", "N/A", "00123", "nan", "plain"]
    two = tmp_path / "two.csv"
    two.write_text("object_id,note\nNULL,x\nNaN,\n")
    assert read_id_list(two) == ["NULL", "NaN"]


def test_id_list_still_refuses_a_file_without_object_id(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id\nNA\n")
    with pytest.raises(Exception, match="object_id"):
        read_id_list(Path(path))
