"""How long Keras's ``fit`` takes to return after its last epoch, with ``tf.data`` autotuning off (ours) and on.

The input pipelines are ``runtime.batch_pipeline``'s, as ``TrainingStream.datasets`` builds them: a finite range of step numbers
mapped by ``tf.numpy_function`` to ``(x, y, w)`` batches (64 random 49 x 49 x 8 inputs, the default's
shape), ``runtime.parallel_calls`` at once, ``prefetch(4)``; a validation pipeline likewise. A small
convolutional network is fitted for ``--epochs`` epochs of ``--batches`` batches, and the time from the
last epoch's end (``on_epoch_end``) to ``fit``'s return is measured: the wait between a training's last
epoch and its writing the model. Ours: ``runtime.data_options(threads)``, autotuning off; the baseline:
the same options with TensorFlow's default autotuning, whose thread sleeps for a period that doubles up
to 60 s and which an iterator's destructor waits for (docs/performance.md, "The end of training and
scoring").

The wait is random (where the autotuner's sleep is when the pipeline ends), so the script prints every
round, the median and the longest wait of each, and the ratio of the mean times from ``fit``'s start
to its return.

Usage: ``python benchmarks/pipeline_end.py [--rounds 4] [--epochs 3] [--batches 120] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _batch(step):
    rng = np.random.default_rng(int(step))
    x = rng.standard_normal((64, 49, 49, 8), dtype=np.float32)
    y = (rng.uniform(size=64) < 0.5).astype(np.int32)
    return x, y, np.ones(64, np.float32)


def _datasets(tf, options, threads, n_train, n_val):
    """Training's and validation's pipelines as ``runtime.batch_pipeline`` builds them, with ``options``."""
    from lensfinder.learning.runtime import batch_pipeline, numpy_map

    shape = [None, 49, 49, 8]
    load_train = numpy_map(_batch, (tf.float32, tf.int32, tf.float32), (shape, [None], [None]))
    train = batch_pipeline(range(n_train), load_train, threads, 4, options)
    load_val = numpy_map(lambda step: _batch(step + 10**6)[:2], (tf.float32, tf.int32), (shape, [None]))
    val = batch_pipeline(range(n_val), load_val, threads, 2, options)
    return train, val


def _round(tf, keras, options, args):
    """Fit a fresh small network; seconds from the last epoch's end to ``fit``'s return."""
    train, val = _datasets(tf, options, args.threads, args.epochs * args.batches, 10)
    layers = keras.layers
    model = keras.Sequential([keras.Input((49, 49, 8)), layers.Conv2D(32, 5, activation="relu"), layers.MaxPooling2D(2),
                              layers.Conv2D(64, 5, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                              layers.Dense(256, activation="relu"), layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    ends = {}

    class LastEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends["epoch"] = time.perf_counter()

    start = time.perf_counter()
    model.fit(train, epochs=args.epochs, steps_per_epoch=args.batches, validation_data=val, verbose=0, shuffle=False,
              callbacks=[LastEpoch()])
    end = time.perf_counter()
    return end - ends["epoch"], ends["epoch"] - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="fits of each kind, alternating (default 4)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (default 3, as a fine-tuned copy)")
    parser.add_argument("--batches", type=int, default=120, help="batches of 64 per epoch (default 120)")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow's and the pipelines' threads (default 2)")
    args = parser.parse_args(argv)

    from lensfinder.learning.models import import_keras
    from lensfinder.learning.runtime import data_options, set_threads

    keras = import_keras()
    import tensorflow as tf

    set_threads(args.threads)
    ours = data_options(args.threads)
    baseline = data_options(args.threads)
    baseline.autotune.enabled = True  # TensorFlow's default
    waits = {"autotuning off (ours)": [], "autotuning on (baseline)": []}
    totals = {label: [] for label in waits}
    for k in range(args.rounds):
        for label, options in zip(waits, (ours, baseline)):
            wait, fitting = _round(tf, keras, options, args)
            waits[label].append(wait)
            totals[label].append(fitting + wait)
            print(f"round {k + 1}, {label}: {args.epochs} epochs in {fitting:.1f} s, then {wait:.2f} s to return",
                  flush=True)
    for label, values in waits.items():
        print(f"{label}: median {statistics.median(values):.2f} s, longest {max(values):.2f} s after the last epoch")
    wait_ours, wait_base = (statistics.fmean(v) for v in waits.values())
    total_ours, total_base = (statistics.fmean(v) for v in totals.values())
    print(f"ratio: a fit to its return takes {total_base / total_ours:.2f}x as long with autotuning on "
          f"({total_base:.1f} s against {total_ours:.1f} s on average), of which {wait_base:.2f} s against "
          f"{wait_ours:.2f} s after the last epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
