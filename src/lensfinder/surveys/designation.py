"""IAU-style source designations (``PREFIX JHHMMSS.ss+DDMMSS.s``) of each survey, made from coordinates.

A designation is the survey's acronym, ``J`` (J2000 equatorial) and the
sexagesimal position, *truncated* rather than rounded, as the IAU
specifications for designations ask, so that a source's name never points into
the neighbouring cell of the name grid. KiDS DR4
catalogue IDs follow that rule (``KiDSDR4 J002018.968-284111.45``: 1 ms of
time, 0.01 arcsec); :data:`DESIGNATIONS` lists the format of every survey the
pipeline reads. The digits are counted here (truncation is not rounding);
astropy's :meth:`astropy.coordinates.Angle.to_string` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensfinder.io import InputError

__all__ = ["Designation", "DESIGNATIONS", "designation_for", "iau_names", "sexagesimal"]

#: Added before truncating, in units of the last digit: a position that lies on a
#: digit boundary (12.345 s stored as 12.34499999...) keeps its digit.
_BOUNDARY_EPS = 1e-6


@dataclass(frozen=True)
class Designation:
    """The name format of one survey's sources.

    Attributes
    ----------
    prefix : str
        Everything before the position, ``J`` included (``"KiDSDR4 J"``).
    ra_decimals : int
        Decimals of the seconds of time of the right ascension.
    dec_decimals : int
        Decimals of the arcseconds of the declination.
    """

    prefix: str
    ra_decimals: int
    dec_decimals: int


#: survey (config ``survey``) -> designation format.
DESIGNATIONS: dict[str, Designation] = {
    # the catalogue's own ID column (Kuijken et al. 2019, KiDS DR4)
    "kids_dr4": Designation("KiDSDR4 J", 3, 2),
    # KiDS DR3 IDs as He et al. (2020) quote them, Table B1 (KIDS J032219.80-342456.55)
    "kids_dr3": Designation("KIDS J", 2, 2),
    # written by lensfinder.surveys.columns.tractor_to_kids (Legacy Surveys DR10 has no such ID)
    "legacy_dr10": Designation("LS10 J", 2, 1),
    # the built-in mock survey: KiDS DR4 precision, its own prefix (a mock object is no KiDS source)
    "mock": Designation("MOCK J", 3, 2),
}


def designation_for(survey: str) -> Designation:
    """The designation format of ``survey`` (a key of :data:`DESIGNATIONS`)."""
    try:
        return DESIGNATIONS[survey]
    except KeyError:
        raise InputError(f"--survey: {survey!r}: expected one of {', '.join(DESIGNATIONS)}") from None


def _truncated(value, decimals: int):
    """``value`` (>= 0) truncated to ``decimals``, as an integer count of the last digit (int64)."""
    return np.floor(value * 10.0**decimals + _BOUNDARY_EPS).astype(np.int64)


def iau_names(ra_deg, dec_deg, designation: Designation) -> list[str]:
    """Designations of positions (J2000, degrees), truncated as the IAU asks.

    Parameters
    ----------
    ra_deg, dec_deg : array-like of float
        Right ascension (any value, taken modulo 360) and declination
        (-90 to 90), in degrees.
    designation : Designation
        Prefix and precision, e.g. ``DESIGNATIONS["kids_dr4"]``.

    Returns
    -------
    list of str
        ``prefix + HHMMSS.s... + sign + DDMMSS.s...``; an empty string where
        the position is not finite.
    """
    import astropy.units as u
    from astropy.coordinates import Angle

    ra = np.mod(np.atleast_1d(np.asarray(ra_deg, dtype=float)), 360.0)
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    if ra.shape != dec.shape:
        raise InputError(f"ra, dec: {ra.size} and {dec.size} values; expected one dec per ra")
    good = np.isfinite(ra) & np.isfinite(dec)
    if np.any(np.abs(dec[good]) > 90.0):
        raise InputError(f"dec: {dec[good][np.abs(dec[good]) > 90.0][0]!r} deg is outside [-90, 90]")
    names = [""] * ra.size
    if not good.any():
        return names
    ra_units = 24 * 3600 * 10**designation.ra_decimals
    # truncate in seconds of time / arcseconds, then let astropy write the digits back
    ra_count = np.mod(_truncated(ra[good] / 15.0 * 3600.0, designation.ra_decimals), ra_units)
    dec_count = _truncated(np.abs(dec[good]) * 3600.0, designation.dec_decimals)
    ra_text = Angle(ra_count / 10.0**designation.ra_decimals / 3600.0, u.hourangle).to_string(
        unit=u.hourangle, sep="", precision=designation.ra_decimals, pad=True)
    dec_text = Angle(dec_count / 10.0**designation.dec_decimals / 3600.0, u.deg).to_string(
        unit=u.deg, sep="", precision=designation.dec_decimals, pad=True)
    signs = np.where(dec[good] < 0, "-", "+")
    for k, r, s, d in zip(np.flatnonzero(good), np.atleast_1d(ra_text), signs, np.atleast_1d(dec_text)):
        names[k] = f"{designation.prefix}{r}{s}{d}"
    return names


def sexagesimal(ra_deg, dec_deg, *, ra_decimals: int = 3, dec_decimals: int = 2):
    """``hh:mm:ss.sss`` and ``+dd:mm:ss.ss`` strings of positions in degrees (rounded, as coordinates are).

    Returns two object arrays; empty strings where a position is not finite.
    """
    import astropy.units as u
    from astropy.coordinates import Angle

    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    ra_text = np.full(ra.size, "", dtype=object)
    dec_text = np.full(ra.size, "", dtype=object)
    good = np.isfinite(ra) & np.isfinite(dec)
    if good.any():
        # rounded here, modulo 24 h, so that 23:59:59.9999 reads 00:00:00.000 rather than 24:00:00.000
        scale = 3600.0 * 10.0**ra_decimals
        ra_count = np.mod(np.round(np.mod(ra[good], 360.0) / 15.0 * scale), 24 * scale)
        ra_text[good] = Angle(ra_count / scale, u.hourangle).to_string(
            unit=u.hourangle, sep=":", precision=ra_decimals, pad=True)
        dec_text[good] = Angle(dec[good], u.deg).to_string(unit=u.deg, sep=":", precision=dec_decimals, pad=True,
                                                           alwayssign=True)
    return ra_text, dec_text
