"""Training throughput: streaming from our FITS shards vs the same images in memory.

Writes toy shards (rings vs blobs, 101x101, lensfinder.learning.datasets) to a
temporary directory, then trains the same network twice with the same
settings (no augmentation, no validation, so both do the same work):

1. ``lensfinder.learning.training.train`` streaming the shards through its tf.data
   pipeline (positioned reads, bin2 + normalisation in numpy, prefetch), with
   each image's prepared input kept after its first epoch (the default
   ``--cache-mb``), and again with ``cache_mb=0`` (read and prepared every epoch);
2. ``model.fit`` on the preprocessed images held in a numpy array.

Images/s are the best epoch after the first (which includes tracing): the
machine is shared and single epochs swing by tens of percent. The
target is a ratio (disk / memory) of at least 0.9. One more streaming run
with augmentation on shows its cost. As wall-clock rates on a shared machine
are noisy, the process CPU time per image (all threads) is printed too: its
ratio is what the throughput ratio would be on an idle CPU-bound machine.

The input pipeline alone (reading, resizing, ``sky`` normalisation and
augmentation of one epoch's batches, no network) is timed with each image's
border sky measured every time it is read (the baseline), kept after its
first read (later epochs skip the medians), and with the prepared inputs kept
(what training does: later epochs skip reading and preprocessing).

With ``--bands g r i`` the shards hold three bands (a red galaxy, a blue ring)
and the network takes them with the default's g-r colour residual
(``colour_residual: auto``) at the default's two scales, 49x49x8: the colour
search's throughput. The in-memory baseline builds the same input as the
stream (its channels and residual taken from ``TrainingStream``).

    .venv/bin/python benchmarks/train.py [--n-images 4096] [--epochs 3] [--model he2020] [--bands g r i]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from lensfinder.learning.datasets import ShardSet, write_toy_shard  # noqa: E402
from lensfinder.learning.preprocessing import preprocess  # noqa: E402
from lensfinder.learning.config import resolve_config  # noqa: E402
from lensfinder.learning.runtime import configure_tensorflow  # noqa: E402
from lensfinder.learning.stream import DEFAULT_CACHE_MB, TrainingStream  # noqa: E402
from lensfinder.learning.models import compile_model  # noqa: E402
from lensfinder.learning.training import train  # noqa: E402
from timing import epoch_timer  # noqa: E402  (benchmarks/timing.py, beside this script)

log = logging.getLogger("benchmarks.train")


def in_memory_images_per_s(shards, config, threads, cpu_per_epoch):
    from lensfinder.learning.models import import_keras

    configure_tensorflow(config.seed, threads)
    keras = import_keras()
    rows = np.arange(len(shards))
    # the network input as train() builds it: its TrainingStream resolves the colour residual
    # (config.colour_residual, ``auto``: g-r where the shards hold g and r) and the channels
    stream = TrainingStream(shards, rows, rows[:0], config, cache_mb=0)
    if stream.moffat_rows:
        raise SystemExit("the shards carry Moffat fits: the in-memory baseline would match the colour residual "
                         "without them, unlike the stream")
    size, _, channels = stream.input_shape
    settings = {"input_shape": list(stream.input_shape), "bands": list(stream.bands),
                "preprocess": config.preprocess, "normalization": config.normalization, **stream.residual_record}
    x = preprocess(shards.take(rows), settings)
    if x.shape[1:] != stream.input_shape:
        raise SystemExit(f"in-memory input {x.shape[1:]} differs from the stream's {stream.input_shape}")
    y = shards.labels.astype(np.int32)
    model = compile_model(config, size, channels)
    times = []
    model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, shuffle=True, verbose=0,
              callbacks=[epoch_timer(keras, times), epoch_timer(keras, cpu_per_epoch, time.process_time)])
    return len(x) / min(times[1:] or times), x.nbytes, x.shape[1:]


def input_images_per_s(shards, config, keep_sky: bool, cache_mb: float = 0) -> float:
    """Images/s of the input pipeline alone over the second epoch's batches (the first fills what is kept)."""
    rows = np.arange(len(shards))
    stream = TrainingStream(shards, rows, rows[:0], config, keep_sky=keep_sky, cache_mb=cache_mb)
    for step in range(stream.n_batches):
        stream.train_batch(step)
    start = time.perf_counter()
    for step in range(stream.n_batches, 2 * stream.n_batches):
        stream.train_batch(step)
    return stream.images_per_epoch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="he2020")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is reported")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--bands", nargs="+", default=None, help="bands of the toy shards (default: one, r)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="lensfinder-bench-") as tmp:
        per_shard = args.n_images // 4
        for k in range(4):
            write_toy_shard(tmp, k, per_shard, seed=0, bands=args.bands)
        shards = ShardSet([tmp])
        def config(augment):
            return resolve_config(None, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
                                  val_fraction=0.0, augment=augment)

        def best_epoch(history):
            rates = history["images_per_s"]
            return float(rates.iloc[1:].max() if len(rates) > 1 else rates.iloc[0])

        from lensfinder.learning.models import import_keras

        keras = import_keras()
        measured, kept, cached = [], [], []
        for _ in range(args.repeats):
            measured.append(input_images_per_s(shards, config(True), keep_sky=False))
            kept.append(input_images_per_s(shards, config(True), keep_sky=True))
            cached.append(input_images_per_s(shards, config(True), keep_sky=True, cache_mb=DEFAULT_CACHE_MB))
        disk, uncached, memory, augmented = [], [], [], []
        cpu_disk, cpu_memory = [], []
        for _ in range(args.repeats):  # interleaved: the machine is shared
            cpu = []
            disk.append(best_epoch(train(shards, config(False), os.path.join(tmp, "disk.keras"), threads=args.threads,
                                         callbacks=[epoch_timer(keras, cpu, time.process_time)])))
            cpu_disk.append(min(cpu[1:] or cpu))
            uncached.append(best_epoch(train(shards, config(False), os.path.join(tmp, "uncached.keras"),
                                             threads=args.threads, cache_mb=0)))
            cpu = []
            rate, nbytes, shape = in_memory_images_per_s(shards, config(False), args.threads, cpu)
            memory.append(rate)
            cpu_memory.append(min(cpu[1:] or cpu))
            augmented.append(best_epoch(train(shards, config(True), os.path.join(tmp, "aug.keras"), threads=args.threads)))
        disk, uncached, memory, augmented = max(disk), max(uncached), max(memory), max(augmented)
        n = len(shards)
        cpu_disk, cpu_memory = 1000 * min(cpu_disk) / n, 1000 * min(cpu_memory) / n
    log.info("%s on %s, %d images of 101x101 in %s (%d threads, batch %d), best epoch after the first of %d, "
             "best of %d runs:", args.model, "x".join(map(str, shape)), len(shards), ",".join(shards.bands),
             args.threads, args.batch_size, args.epochs, args.repeats)
    log.info("  streaming from shards : %8.1f images/s (inputs kept after the first epoch)", disk)
    log.info("  ... prepared each time: %8.1f images/s (cache_mb 0): ratio kept / not %.3f", uncached, disk / uncached)
    log.info("  in memory (%.0f MB)    : %8.1f images/s", nbytes / 1e6, memory)
    log.info("  ratio disk / memory   : %8.3f  (target >= 0.9)", disk / memory)
    log.info("  streaming + augment   : %8.1f images/s (ratio %.3f)", augmented, augmented / memory)
    log.info("  input pipeline alone  : %8.1f images/s with the sky measured at every read, %.1f kept: ratio %.2f",
             max(measured), max(kept), max(kept) / max(measured))
    log.info("  ... inputs kept       : %8.1f images/s: ratio %.2f against the kept sky, %.2f against measuring it",
             max(cached), max(cached) / max(kept), max(cached) / max(measured))
    log.info("  CPU s per 1000 images : %.2f streaming, %.2f in memory: ratio memory / streaming %.3f",
             cpu_disk, cpu_memory, cpu_memory / cpu_disk)


if __name__ == "__main__":
    main()
