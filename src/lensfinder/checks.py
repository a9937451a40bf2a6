"""Checks that a step's inputs belong together and hold what they claim: a stamp cube and its index, scores
that are probabilities. Each raises :class:`lensfinder.io.InputError` naming the file and what was expected."""

from __future__ import annotations

from lensfinder.io import InputError

__all__ = ["require_cube_matches_index", "require_unit_interval", "require_scores", "SCORE_COLUMNS"]


def require_cube_matches_index(cube_path, header, n_images: int, index, index_path, *,
                               cube_label: str | None = None) -> None:
    """Refuse a cube that is not its index's: row ``k`` of the cube must be row ``k`` of the index.

    The cube's ``NIMAGES`` (or, without it, ``n_images``: its first axis) must equal the index's rows, and,
    where the header has ``TILE`` and the index a ``tile`` column, every index row must be of that tile.
    Raises :class:`InputError` naming both files; ``cube_label`` is how the messages about the index name
    the cube (default ``its --stamp-cube <cube_path>``).
    """
    cube_label = cube_label or f"its --stamp-cube {cube_path}"
    n_cube = int(header.get("NIMAGES", n_images))
    if n_cube != n_images:
        raise InputError(f"{cube_path}: header NIMAGES = {n_cube}, but the cube holds {n_images} images")
    if n_cube != len(index):
        raise InputError(f"{index_path}: {len(index)} rows, but {cube_label} holds {n_cube} "
                         "stamps; expected the cube made with this index (same order, one per index)")
    tile = header.get("TILE")
    columns = getattr(index, "columns", ())
    if tile is not None and "tile" in columns and len(index):
        other = index["tile"].astype(str) != str(tile).strip()
        if other.any():
            raise InputError(f"{index_path}: tile: {index['tile'][other].iloc[0]!r}, but {cube_label} "
                             f"is of TILE {str(tile).strip()!r}; expected the cube made with this index "
                             "(same order, one per index)")


def require_unit_interval(values, source: str, column: str) -> None:
    """Refuse scores outside [0, 1] (NaN allowed: not scored; +-inf is out of range), naming file and column."""
    import numpy as np

    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{source}: {column}: expected numbers in [0, 1] (or NaN), not "
                         f"{np.asarray(values).dtype} values") from None
    bad = ~np.isnan(values) & ~((values >= 0) & (values <= 1))
    if bad.any():
        raise InputError(f"{source}: {column}: {int(bad.sum())} value(s) outside [0, 1], e.g. "
                         f"{float(values[bad][0])!r}; expected probabilities in [0, 1] (NaN: not scored)")


#: Score columns that are probabilities: the (calibrated) score and the members' mean raw score.
SCORE_COLUMNS = ("p_cnn", "p_cnn_raw")


def require_scores(table, source) -> None:
    """:func:`require_unit_interval` of each of :data:`SCORE_COLUMNS` that ``table`` has."""
    for column in SCORE_COLUMNS:
        if column in table.columns:
            require_unit_interval(table[column].to_numpy(), str(source), column)
