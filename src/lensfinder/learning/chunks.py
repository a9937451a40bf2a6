"""Which survey tiles each scoring job holds: chunks cut where the tiles' names say, not where the list does.

The workflow scores the survey ``inference.tiles_per_job`` tiles per job, so that TensorFlow starts and the
networks load once per job, not once per tile. Cutting the tile list into runs of that length by position
would move every later tile into another job whenever a tile is inserted or removed in the middle, and
Snakemake would rescore them all. Here the tiles are sorted by name, and a chunk ends after every tile whose
name hashes to a multiple of ``per_job`` (content-defined chunking, as rsync and LBFS cut files into blocks:
Tridgell & Mackerras 1996; Muthitacharoen, Chen & Mazieres 2001). A tile added or removed therefore changes
its own chunk alone, or splits one chunk in two when the new tile is a cut; every other chunk keeps its
tiles, and its name, the name of its first tile. A chunk is cut after ``2 * per_job`` tiles at the most, so
no job runs much longer than the others; a cut forced that way moves only the tiles up to the next
natural cut.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["MAX_CHUNK_FACTOR", "scoring_chunks", "tile_hash"]

#: a chunk holds at most this many times ``per_job`` tiles
MAX_CHUNK_FACTOR = 2


def tile_hash(tile: str) -> int:
    """A tile name's stable 64-bit hash (SHA-256; Python's ``hash`` of a string changes between runs)."""
    return int.from_bytes(hashlib.sha256(tile.encode("utf-8")).digest()[:8], "big")


def scoring_chunks(tiles: Iterable[str], per_job: int) -> dict[str, tuple[str, ...]]:
    """The scoring jobs' tiles: ``{name: tiles}``, each name its chunk's first tile, the tiles sorted by name.

    About ``per_job`` tiles per chunk on average (a little fewer with the cap), never more than
    ``MAX_CHUNK_FACTOR * per_job``. The same set of tiles gives the same chunks in any order.
    """
    if isinstance(per_job, bool) or not isinstance(per_job, int) or per_job < 1:
        raise ValueError(f"inference.tiles_per_job: expected an integer >= 1, got {per_job!r}")
    chunks: dict[str, tuple[str, ...]] = {}
    current: list[str] = []
    for tile in sorted(set(tiles)):
        current.append(tile)
        if tile_hash(tile) % per_job == 0 or len(current) >= MAX_CHUNK_FACTOR * per_job:
            chunks[current[0]] = tuple(current)
            current = []
    if current:
        chunks[current[0]] = tuple(current)
    return chunks
