"""IAU-style designations from coordinates (lensfinder.surveys.designation), checked against real KiDS DR4 IDs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import Angle

from lensfinder.io import InputError
from lensfinder.surveys.designation import DESIGNATIONS, designation_for, iau_names, sexagesimal

KIDS = DESIGNATIONS["kids_dr4"]
#: the ESO archive printed RAJ2000/DECJ2000 of the fixture with 6 decimals (deg)
PRINTED_DEG = 1e-6


@pytest.fixture(scope="module")
def kids_rows(test_data):
    return pd.read_csv(test_data / "kids_dr4_sample.csv", usecols=["ID", "RAJ2000", "DECJ2000"])


def _on_cell_boundary(ra_deg: float, dec_deg: float) -> bool:
    """Whether a printed position lies exactly on a KiDS DR4 name-cell edge (1 ms of time, 0.01 arcsec)."""
    x = np.array([ra_deg / 15 * 3600 * 1000, abs(dec_deg) * 3600 * 100])
    return bool((np.abs(x - np.round(x)) < 1e-6).any())


def test_kids_dr4_ids_come_back_from_their_coordinates(kids_rows):
    ra, dec = kids_rows["RAJ2000"].to_numpy(), kids_rows["DECJ2000"].to_numpy()
    ours = iau_names(ra, dec, KIDS)
    n_exact = 0
    for k, real in enumerate(kids_rows["ID"]):
        # the real ID is the name of a position within the printed precision
        half = PRINTED_DEG / 2
        possible = {iau_names([ra[k] + a], [dec[k] + d], KIDS)[0] for a in (-half, 0, half) for d in (-half, 0, half)}
        assert real in possible and ours[k] in possible, (real, possible)
        if not _on_cell_boundary(ra[k], dec[k]):
            assert ours[k] == real
            n_exact += 1
    # row 2 alone prints DECJ2000 -28.686750 = -28 41 12.30 exactly, rounded up by the archive from a position
    # just inside the cell of its ID ...-284112.29; every other row gives its ID back exactly
    assert n_exact == len(kids_rows) - 1 and not _on_cell_boundary(ra[0], dec[0]) and _on_cell_boundary(ra[2], dec[2])


def test_the_ranked_lists_name_of_a_kids_dr4_object_is_its_catalogue_id(kids_rows):
    """The catalogue's ID is the name where the object_id is one, so the row whose stored declination lies on a
    cell edge keeps its real ID (...-284112.29), not the rebuilt ...-284112.30; other ids are named by position."""
    from lensfinder.inspection.catalogue import add_catalogue_columns

    ranked = pd.DataFrame({"rank": range(1, len(kids_rows) + 2),
                           "object_id": [*kids_rows["ID"], "sim-1"], "p_cnn": 0.9,
                           "ra": [*kids_rows["RAJ2000"], 5.0], "dec": [*kids_rows["DECJ2000"], -1e-7]})
    named = add_catalogue_columns(ranked, "kids_dr4")
    assert named["name"].tolist()[:-1] == kids_rows["ID"].tolist()
    assert named["name"].iloc[-1] == "KiDSDR4 J002000.000-000000.00"
    assert iau_names([kids_rows["RAJ2000"][2]], [kids_rows["DECJ2000"][2]], KIDS)[0] != kids_rows["ID"][2]


def _cell(name: str, designation):
    """(ra, dec) in deg of the lower corner of a name's cell, parsed by astropy."""
    m = re.fullmatch(re.escape(designation.prefix) + r"(\d\d)(\d\d)(\d\d(?:\.\d+)?)([+-])(\d\d)(\d\d)(\d\d(?:\.\d+)?)",
                     name)
    assert m, name
    h, mi, s, sign, d, dm, ds = m.groups()
    ra = Angle(f"{h}h{mi}m{s}s").deg
    dec = Angle(f"{d}d{dm}m{ds}s").deg
    return ra, (-dec if sign == "-" else dec)


@pytest.mark.parametrize("survey", sorted(DESIGNATIONS))
def test_names_truncate_the_position_into_its_cell(survey):
    designation = designation_for(survey)
    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, 500)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 500)))
    names = iau_names(ra, dec, designation)
    ra_cell = 15.0 / 3600.0 / 10**designation.ra_decimals
    dec_cell = 1.0 / 3600.0 / 10**designation.dec_decimals
    for name, r, d in zip(names, ra, dec):
        assert name.startswith(designation.prefix)
        r0, d0 = _cell(name, designation)
        # truncation: the position lies inside the cell that starts at the name (rounding would put half outside)
        assert -1e-9 <= r - r0 < ra_cell + 1e-9, (name, r)
        assert -1e-9 <= abs(d) - abs(d0) < dec_cell + 1e-9, (name, d)


def test_designation_edges():
    assert iau_names([0.0], [0.0], KIDS) == ["KiDSDR4 J000000.000+000000.00"]
    # never 24h or 60 s: the last cell before 360 deg
    assert iau_names([359.99999999], [-0.5], KIDS) == ["KiDSDR4 J235959.999-003000.00"]
    # a tiny negative declination keeps its sign; a position on a boundary keeps its digit
    assert iau_names([5.0], [-1e-7], KIDS) == ["KiDSDR4 J002000.000-000000.00"]
    assert iau_names([12.345 / 3600 * 15], [89.99999999], KIDS) == ["KiDSDR4 J000012.345+895959.99"]
    assert iau_names([150.1, np.nan], [2.2, 1.0], DESIGNATIONS["legacy_dr10"]) == ["LS10 J100024.00+021200.0", ""]
    assert iau_names([], [], KIDS) == []
    assert iau_names([10.0], [-30.0], DESIGNATIONS["mock"])[0].startswith("MOCK J")
    with pytest.raises(InputError, match="outside"):
        iau_names([1.0], [91.0], KIDS)
    with pytest.raises(InputError, match="--survey: 'hsc'"):
        designation_for("hsc")


def test_sexagesimal_coordinates_round_and_wrap():
    ra, dec = sexagesimal([359.99999999, 5.079035, np.nan], [-28.686515, -0.0001, 1.0])
    assert ra.tolist() == ["00:00:00.000", "00:20:18.968", ""]
    assert dec.tolist() == ["-28:41:11.45", "-00:00:00.36", ""]
    # read back by astropy, they agree with the degrees to their precision
    assert Angle("00:20:18.968", unit="hourangle").deg == pytest.approx(5.079035, abs=0.0005 * 15 / 3600)
    assert Angle("-28:41:11.45", unit="deg").deg == pytest.approx(-28.686515, abs=0.005 / 3600)
