"""Inference throughput from disk vs in memory, and peak memory vs shard size.

1. Throughput: a cube of ``--n-images`` 101x101 stamps is scored by
   ``lensfinder.learning.inference.score_cube`` (positioned reads, bin2 +
   normalisation in numpy, prefetching tf.data pipeline) without test-time
   augmentation (``tta="none"``: one forward pass per stamp, as the baseline
   does) and, as the baseline, by ``model.predict`` on the same stamps
   already preprocessed and held in memory. Both after a warm-up; the
   scores must agree (atol 1e-5), or the script fails. Target ratio >= 0.9. The cube
   was just written, so "disk" here is mostly the page cache. Wall-clock
   rates on a shared machine are noisy, so the process CPU time per image
   is printed too (its ratio is the throughput ratio of a CPU-bound idle
   machine).
2. Memory: two child processes run the whole ``lensfinder infer`` step
   (``predict_shard``) on cubes of ``--memory-sizes`` stamps and report their
   peak resident memory (``ru_maxrss``); the target is the larger within 10%
   of the smaller. The issue asks for 10,000 vs 100,000; the default here is
   5,000 vs 50,000 (2 GB of cube) to fit a shared 2-core machine: the
   mechanism (batch-sized reads, no memory map) is the same.

3. Tiles per job: ``--tiles`` cubes of ``--tile-stamps`` stamps (the mock
   survey's tiles hold 170-200) scored with dihedral TTA by one ``lensfinder
   infer`` process (the workflow's job of ``inference.tiles_per_job`` tiles)
   and, as the baseline, by one process per cube, one after another (a job
   per tile, as before). Wall and CPU time (the children's user + system)
   of each, and their ratio: on the mock survey most of a one-tile job is
   TensorFlow's start-up.

Weights do not change the speed, so the network is untrained.

    .venv/bin/python benchmarks/infer.py [--n-images 8192] [--memory-sizes 5000 50000] [--tiles 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

log = logging.getLogger("benchmarks.infer")


def write_model(directory: Path, name: str = "he2020") -> Path:
    from lensfinder.learning.models import build_model, import_keras
    from lensfinder.learning.modelfiles import save_model
    from lensfinder.learning.sidecar import write_settings

    import_keras().utils.set_random_seed(0)
    size = 49 if name == "he2020" else 101
    path = save_model(build_model(name, (size, size, 1)), directory / f"{name}.keras")
    write_settings({"model": name, "input_shape": [size, size, 1], "stamp_size": 101,
                    "preprocess": "bin2", "normalization": "minmax"}, path)
    return path


def write_noise_cube(path: Path, n: int, chunk: int = 2000) -> Path:
    """A cube of n Gaussian-noise stamps written in chunks (constant memory) + its index."""
    import pandas as pd
    from astropy.io import fits

    from lensfinder.io import write_table

    header = fits.Header()
    for key, value in (("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 3), ("NAXIS1", 101), ("NAXIS2", 101),
                       ("NAXIS3", n), ("STAMPNY", 101), ("STAMPNX", 101), ("PIXSCALE", 0.2), ("ZEROPT", 30.0),
                       ("NIMAGES", n)):
        header[key] = value
    rng = np.random.default_rng(1)
    stream = fits.StreamingHDU(path, header)
    for start in range(0, n, chunk):
        stream.write(rng.normal(0, 1, (min(chunk, n - start), 101, 101)).astype(np.float32))
    stream.close()
    write_table(pd.DataFrame({"object_id": [f"obj{i}" for i in range(n)]}), path.with_suffix(".parquet"))
    return path


def throughput(directory: Path, n: int, batch_size: int, threads: int, name: str, repeats: int):
    """Best-of-``repeats`` images/s from disk and in memory, measured interleaved.

    The machine is shared, so single timings swing by tens of percent;
    interleaving and taking the best of each compares like with like.
    """
    from lensfinder.learning.datasets import CubeReader
    from lensfinder.learning.inference import Scorer, score_cube

    model_path = write_model(directory, name)
    cube = write_noise_cube(directory / "speed.fits", n)
    scorer = Scorer(model_path)
    reader = CubeReader(cube)
    x = scorer.prepare(reader.read(0, n))[0]
    model = scorer.model
    # tta="none" on both sides: score_cube's default is dihedral TTA (eight forward passes), the
    # baseline's model.predict one; the tiles-per-job part times the workflow's dihedral scoring
    score_cube(reader, scorer, batch_size, threads, tta="none")  # warm-up: tracing, page cache
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    disk, memory, cpu = [], [], {"disk": [], "memory": []}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        p_disk, _ = score_cube(reader, scorer, batch_size, threads, tta="none")
        disk.append(n / (time.perf_counter() - t0))
        cpu["disk"].append(1000 * (time.process_time() - c0) / n)
        t0, c0 = time.perf_counter(), time.process_time()
        p_mem = model.predict(x, batch_size=batch_size, verbose=0)[:, 1]
        memory.append(n / (time.perf_counter() - t0))
        cpu["memory"].append(1000 * (time.process_time() - c0) / n)
    reader.close()
    if not np.allclose(p_disk, p_mem, atol=1e-5):
        raise SystemExit(f"score_cube and model.predict disagree: largest |p_disk - p_mem| "
                         f"{np.abs(p_disk - p_mem).max():.2e} (tolerance 1e-5)")
    return disk, memory, x.nbytes, {k: min(v) for k, v in cpu.items()}


def child_peak_memory(cube: Path, model: Path, batch_size: int, threads: int) -> float:
    code = (
        "import os, resource, json; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "from lensfinder.learning.inference import predict_shard\n"
        f"t = predict_shard({str(cube)!r}, {str(cube.with_suffix('.parquet'))!r}, [{str(model)!r}], {batch_size}, threads={threads})\n"
        "rss = [int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmRSS')][0]\n"
        "print(json.dumps({'n': len(t), 'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " 'rss_mb': rss}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    record = json.loads(out.strip().splitlines()[-1])
    return record["maxrss_mb"], record["rss_mb"]


def _cli_seconds(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one ``lensfinder`` command."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lensfinder", *args], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def tiles_per_job(directory: Path, n_tiles: int, n_stamps: int, threads: int) -> dict[str, tuple[float, float]]:
    """``lensfinder infer`` of ``n_tiles`` cubes in one process against one process per cube."""
    import pandas as pd

    model = directory / "he2020.keras"
    if not model.exists():
        write_model(directory)
    cubes = [write_noise_cube(directory / f"TILE_{k}.fits", n_stamps) for k in range(n_tiles)]
    common = ["--model", str(model), "--tta", "dihedral", "--threads", str(threads)]
    one = _cli_seconds(["infer", "--stamps", *map(str, cubes), "--index", *(str(c.with_suffix(".parquet")) for c in cubes),
                        "--out", str(directory / "chunk.parquet"), *common])
    each = [0.0, 0.0]
    for k, cube in enumerate(cubes):
        wall, cpu = _cli_seconds(["infer", "--stamps", str(cube), "--index", str(cube.with_suffix(".parquet")),
                                  "--out", str(directory / f"tile_{k}.parquet"), *common])
        each = [each[0] + wall, each[1] + cpu]
    together = pd.read_parquet(directory / "chunk.parquet")
    alone = pd.concat([pd.read_parquet(directory / f"tile_{k}.parquet") for k in range(n_tiles)], ignore_index=True)
    assert np.array_equal(together["p_cnn"].to_numpy(), alone["p_cnn"].to_numpy()), "scores differ"
    return {"one job": one, "a job per tile": tuple(each)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model", default="he2020", choices=["he2020", "resnet18"])
    parser.add_argument("--memory-sizes", type=int, nargs=2, default=[5000, 50000])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--tiles", type=int, default=6, help="cubes scored in one job against a job each (0: skip)")
    parser.add_argument("--tile-stamps", type=int, default=185, help="stamps per cube of the tiles-per-job part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="lensfinder-bench-") as tmp:
        tmp = Path(tmp)
        disk, memory, nbytes, cpu = throughput(tmp, args.n_images, args.batch_size, args.threads, args.model, args.repeats)
        log.info("%s, %d stamps of 101x101, batch %d, %d threads, best (median) of %d interleaved runs:",
                 args.model, args.n_images, args.batch_size, args.threads, args.repeats)
        log.info("  from disk (score_cube)           : %8.1f (%.1f) images/s", max(disk), np.median(disk))
        log.info("  model.predict in memory (%.0f MB) : %8.1f (%.1f) images/s", nbytes / 1e6, max(memory), np.median(memory))
        log.info("  ratio disk / memory              : %8.3f (%.3f)  (target >= 0.9)",
                 max(disk) / max(memory), np.median(disk) / np.median(memory))
        log.info("  CPU s per 1000 images            : %.3f from disk, %.3f in memory: ratio %.3f",
                 cpu["disk"], cpu["memory"], cpu["memory"] / cpu["disk"])
        if args.tiles:
            times = tiles_per_job(tmp, args.tiles, args.tile_stamps, args.threads)
            log.info("%d tiles of %d stamps, dihedral TTA, %d threads, lensfinder infer (start-up included):",
                     args.tiles, args.tile_stamps, args.threads)
            for name, (wall, cpu) in times.items():
                log.info("  %-15s: %6.1f s wall, %6.1f s CPU", name, wall, cpu)
            (w1, c1), (wn, cn) = times["one job"], times["a job per tile"]
            log.info("  ratio a job per tile / one job : %.2f wall, %.2f CPU (same scores)", wn / w1, cn / c1)
        if args.skip_memory:
            return
        model = tmp / f"{args.model}.keras"
        peaks = []
        for n in args.memory_sizes:
            cube = write_noise_cube(tmp / f"mem_{n}.fits", n)
            t0 = time.perf_counter()
            peak, final = child_peak_memory(cube, model, args.batch_size, args.threads)
            peaks.append(peak)
            log.info("  peak RSS, %7d stamps (%.2f GB cube): %7.1f MB, %.1f MB at the end (%.1f s)", n,
                     cube.stat().st_size / 1e9, peak, final, time.perf_counter() - t0)
            cube.unlink()
        log.info("  ratio of peaks                   : %8.3f  (target <= 1.10)", peaks[1] / peaks[0])


if __name__ == "__main__":
    main()
