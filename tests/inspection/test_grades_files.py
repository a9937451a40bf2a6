"""Reading grades and notes files as people hand them in: encodings, extra columns, broken lines."""

from __future__ import annotations

import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.inspection.grades import notes_path, read_grades, read_notes
from lensfinder.io import InputError, write_table


def test_non_utf8_byte_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "grades.csv"
    # Latin-1 "e acute" in an inspector's name on line 3 (a spreadsheet saved as Windows-1252)
    path.write_bytes(b"object_id,inspector,grade\nx,ann,A\ny,Ren\xe9e,B\n")
    with pytest.raises(InputError, match=r"grades\.csv: line 3: byte 0xe9 is not UTF-8"):
        read_grades(path, "li2020")


def test_merge_scores_reports_the_line_not_a_traceback(tmp_path, capsys):
    pred = tmp_path / "pred.parquet"
    write_table(pd.DataFrame({"object_id": ["x", "y"], "p_cnn": [0.9, 0.8]}), pred)
    grades = tmp_path / "grades.csv"
    grades.write_bytes(b"object_id,inspector,grade\nx,ann,A\ny,ann,B\n\xff\xfe,ann,C\n")
    argv = ["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--out", str(tmp_path / "r.parquet")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{grades}: line 4: byte 0xff is not UTF-8" in err and "Traceback" not in err


def test_bom_extra_columns_and_broken_lines(tmp_path):
    path = tmp_path / "g.csv"
    # a spreadsheet export: byte-order mark, CRLF, an extra column (the grading page's, or a user's)
    path.write_bytes("\ufeffobject_id,inspector,grade,time,comment\r\nx,ann,a,t,nice arc\r\ny,bob,D,t,\r\n"
                     .encode("utf-8"))
    grades = read_grades(path, "li2020")
    assert grades[["object_id", "inspector", "grade"]].values.tolist() == [["x", "ann", "A"], ["y", "bob", "D"]]
    path.write_bytes(b"object_id,inspector,grade\nx,ann,A\ny,bob," + b"B" * 200_000 + b"\n")  # over csv's limit
    with pytest.raises(InputError, match=r"g\.csv: line 3: not a readable CSV line"):
        read_grades(path, "li2020")


def test_notes_latest_wins_and_empty_clears(tmp_path):
    path = notes_path(tmp_path / "human_grades.csv")
    assert path.name == "human_grades.notes.csv"
    assert read_notes(path).empty  # no notes yet
    path.write_text("object_id,inspector,flags,comment,time\n"
                    "x,ann,artefact,,t1\n"
                    "y,ann,,ring?,t2\n"
                    "x,ann,artefact;interesting non-lens,ghost,t3\n"
                    "y,ann,,,t4\n"
                    "y,bob,artefact,,t5\n")
    notes = read_notes(path)
    assert notes[["object_id", "inspector", "flags", "comment"]].values.tolist() == [
        ["x", "ann", "artefact;interesting non-lens", "ghost"], ["y", "bob", "artefact", ""]]
    path.write_text("object_id,grade\nx,A\n")
    with pytest.raises(InputError, match="missing column"):
        read_notes(path)


def test_errors_name_the_line_a_record_begins_on(tmp_path):
    """A quoted field may run over several lines: the error names the first, after blank lines too."""
    path = tmp_path / "g.csv"
    path.write_text('object_id,inspector,grade\n\nx,ann,A\n"y\nz",ann,E\nw,ann,B\n')
    with pytest.raises(InputError, match=r"g\.csv: line 4: grade 'E' is not in the li2020 scheme"):
        read_grades(path, "li2020")
    path.write_text('object_id,inspector,grade\nx,ann,A\n\n\ny,ann,Q\n')
    with pytest.raises(InputError, match=r"g\.csv: line 5: grade 'Q'"):
        read_grades(path, "li2020")
    path.write_text('object_id,inspector,grade\nx,ann,A\n"y,ann,B\nw,ann,C\n')  # a quote never closed
    with pytest.raises(InputError, match=r"g\.csv: line 3: empty object_id or inspector"):  # not line 5
        read_grades(path, "li2020")


def test_notes_keep_ids_as_written(tmp_path):
    path = notes_path(tmp_path / "g.csv")
    path.write_text("object_id,inspector,flags,comment,time\nobj1 ,ann,artefact,,t1\n")
    assert read_notes(path)["object_id"].tolist() == ["obj1 "]


def test_unknown_ids_are_kept_for_the_caller_to_set_aside(tmp_path):
    """unknown_ids="keep": a grade outside valid_ids is kept as written instead of refused, while a valid id is
    matched as merge-scores matches it (a hand-edited "obj1 " is obj1, its undo too)."""
    path = tmp_path / "g.csv"
    path.write_text("object_id,inspector,grade\nobj1 ,ann,A\nother ,ann,B\nobj1,ann,UNDO\nobj1,ann,C\n")
    with pytest.raises(InputError, match=r"line 3: object_id 'other' is not in the predictions"):
        read_grades(path, "li2020", valid_ids={"obj1"})
    grades = read_grades(path, "li2020", valid_ids={"obj1"}, unknown_ids="keep")
    assert grades[["object_id", "grade"]].values.tolist() == [["other ", "B"], ["obj1", "C"]]
