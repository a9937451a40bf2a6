"""The survey's scoring jobs (lensfinder.learning.chunks): a tile added or removed anywhere in a search
changes one job's tiles, not every job after it."""

from __future__ import annotations

import random

import pytest

from lensfinder.learning.chunks import MAX_CHUNK_FACTOR, scoring_chunks, tile_hash

#: KiDS-like tile names: 1,006 of them, as many as DR4 has
TILES = [f"KIDS_{ra:.1f}_{dec:.1f}" for ra in range(0, 360) for dec in (-28.2, -29.2, -30.2)][:1006]


def test_every_tile_is_in_one_chunk_named_by_its_first_tile():
    chunks = scoring_chunks(TILES, 20)
    held = [tile for tiles in chunks.values() for tile in tiles]
    assert sorted(held) == sorted(TILES) and len(set(held)) == len(held)
    assert all(name == tiles[0] for name, tiles in chunks.items())
    sizes = [len(tiles) for tiles in chunks.values()]
    assert max(sizes) <= MAX_CHUNK_FACTOR * 20
    assert 14 <= sum(sizes) / len(sizes) <= 20  # about tiles_per_job, a little fewer with the cap
    # a cut after each tile whose name hashes to a multiple of tiles_per_job, or at the cap
    for tiles in chunks.values():
        assert all(tile_hash(t) % 20 != 0 for t in tiles[:-1])
    assert scoring_chunks(TILES, 1) == {t: (t,) for t in TILES}


def test_the_chunks_depend_on_the_set_of_tiles_not_their_order():
    shuffled = TILES.copy()
    random.Random(3).shuffle(shuffled)
    assert scoring_chunks(shuffled, 20) == scoring_chunks(TILES, 20)
    assert scoring_chunks(TILES + TILES[:5], 20) == scoring_chunks(TILES, 20)  # a tile listed twice is one tile


def _check_insertion(base: list, new: str, per_job: int) -> int:
    """Insert ``new`` into ``base`` and check which chunks change; their number.

    The chunk that takes the new tile changes, and the one after it when the new tile is a cut (the chunk
    splits). A later chunk changes only when the chunk before it was cut at the cap, not by a tile's hash:
    a capped run's cuts move up to the next natural cut. Every other chunk keeps its name and tiles."""
    before, after = scoring_chunks(base, per_job), scoring_chunks([*base, new], per_job)
    names = list(after)
    changed = [i for i, name in enumerate(names) if before.get(name) != after[name]]
    first = next(i for i, name in enumerate(names) if new in after[name])
    assert changed[0] == first and changed == list(range(first, first + len(changed))), (new, changed)
    for i in changed[1:]:
        previous = after[names[i - 1]]
        assert previous[-1] == new or (len(previous) == MAX_CHUNK_FACTOR * per_job
                                       and tile_hash(previous[-1]) % per_job != 0), (new, names[i])
    # the tiles of the chunks that vanished are all in the changed ones
    kept = {name for i, name in enumerate(names) if i not in changed}
    assert {t for n, ts in before.items() if n not in kept for t in ts} | {new} == \
        {t for i in changed for t in after[names[i]]}
    return len(changed)


@pytest.mark.parametrize("per_job", [2, 20])
def test_a_tile_inserted_or_removed_changes_only_its_own_chunk(per_job):
    """Positional chunks would move every tile after an insertion into another job, rescoring them all."""
    rng = random.Random(per_job)
    counts = []
    for _ in range(40):
        counts.append(_check_insertion(TILES, f"KIDS_{rng.uniform(0, 360):.1f}_{rng.uniform(-35, -25):.1f}", per_job))
        gone = TILES[rng.randrange(len(TILES))]  # a tile removed: the same as inserting it into the rest
        counts.append(_check_insertion([t for t in TILES if t != gone], gone, per_job))
    assert max(counts) <= 4 and sum(counts) / len(counts) < 2, counts
    # what chunks of the sorted list cut by position would do: most jobs change
    positional = lambda tiles: {tuple(sorted(tiles)[i:i + per_job]) for i in range(0, len(tiles), per_job)}  # noqa: E731
    moved = positional(TILES) - positional([*TILES, "KIDS_0.5_-28.2"])
    assert len(moved) > len(TILES) // per_job // 2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "20"])
def test_tiles_per_job_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="inference.tiles_per_job"):
        scoring_chunks(TILES, bad)
