"""The shared TAP helpers: sky circles, ADQL conditions, VOTable rows as DataFrames."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from lensfinder.io import InputError
from lensfinder.surveys.base import DownloadError, cache_folder
from lensfinder.surveys.tap import adql_circle, as_text, check_region, table_to_frame


def test_check_region_and_adql_circle():
    assert check_region(("10", 5, 0.5)) == (10.0, 5.0, 0.5)
    for bad in [(400, 0, 1), (10, 95, 1), (10, 0, 0), (1, 2), None]:
        with pytest.raises(InputError, match="region"):
            check_region(bad)
    assert adql_circle("ra", "dec", 1.5, -2.0, 0.1) == \
        "CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 1.5, -2.0, 0.1)) = 1"


def test_table_to_frame_fills_masked_values():
    table = Table({
        "name": MaskedColumn([b"a", b"b"], mask=[False, True]),
        "mag": MaskedColumn([20.5, 21.0], mask=[False, True]),
        "flag": MaskedColumn([1, 2], mask=[False, True]),
        "count": np.array([3, 4], dtype=np.int32),
        "ok": MaskedColumn([True, False], mask=[False, True]),
    })
    frame = table_to_frame(table, ["mag", "name", "flag", "count", "ok"], "test")
    assert list(frame.columns) == ["mag", "name", "flag", "count", "ok"]
    assert frame["name"].tolist() == ["a", ""]
    assert frame["mag"].iloc[0] == 20.5 and np.isnan(frame["mag"].iloc[1])
    assert frame["flag"].dtype == np.float64 and np.isnan(frame["flag"].iloc[1])
    assert frame["count"].dtype == np.int64 and frame["ok"].tolist() == [True, False]
    with pytest.raises(DownloadError, match="test: the service returned no column.*absent"):
        table_to_frame(table, ["mag", "absent"], "test")


def test_as_text_and_cache_folder(tmp_path):
    assert as_text(b"x") == "x" and as_text(None) == "" and as_text(np.ma.masked) == "" and as_text(3) == "3"
    assert cache_folder(None, tmp_path / "tiles" / "T.fits") == tmp_path / "tiles" / "cache"
    assert cache_folder(tmp_path / "c", tmp_path / "tiles" / "T.fits") == tmp_path / "c"
