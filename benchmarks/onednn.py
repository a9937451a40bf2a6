"""Training and scoring throughput with TensorFlow's oneDNN kernels on and off.

TensorFlow switches its oneDNN CPU kernels on by itself only on CPUs with
AVX-512 VNNI, BF16 or AMX; ``lensfinder.learning.models.import_keras`` sets
``TF_ENABLE_ONEDNN_OPTS=1`` unless the environment says otherwise. This
script measures what that buys on this machine: the workflow's default
network (he2020 on the default's input, derived from ``TrainConfig``'s
defaults by benchmarks/defaults.py: the two-scale input, ``bin2_crop``, of
g, r, i and the g-r colour residual, 49x49x8; batch 64, Adam) compiled by
``lensfinder.learning.models.compile_model``,
trained and scored on the same random images in two child processes, one
with ``TF_ENABLE_ONEDNN_OPTS=1`` (ours) and one with ``=0`` (the baseline,
TensorFlow's own kernels), interleaved ``--repeats`` times. Images/s are the
best epoch after the first; weights do not change the speed. On a CPU where
TensorFlow already uses oneDNN the ratio is about 1.

    .venv/bin/python benchmarks/onednn.py [--n-images 3840] [--epochs 3] [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def child(n_images: int, epochs: int, threads: int) -> dict:
    import numpy as np

    from lensfinder.learning.config import resolve_config
    from lensfinder.learning.models import import_keras
    from lensfinder.learning.runtime import configure_tensorflow
    from lensfinder.learning.models import compile_model
    from defaults import input_shape  # benchmarks/defaults.py, beside this script
    from timing import train_and_score_rates  # benchmarks/timing.py, beside this script

    config = resolve_config(None, model="he2020", epochs=epochs, batch_size=64)  # the default's input
    size, _, channels = input_shape(config)
    configure_tensorflow(config.seed, threads)
    keras = import_keras()
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_images, size, size, channels)).astype(np.float32)
    y = rng.integers(0, 2, n_images).astype(np.int32)
    model = compile_model(config, size, channels)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch_size).cache().prefetch(2)
    train, predict = train_and_score_rates(keras, model, (data,), x, epochs, batch_inference=256, repeats=1)
    return {"train": train, "predict": predict}


def run_child(onednn: str, args) -> dict:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, __file__, "--child", "--n-images", str(args.n_images),
                          "--epochs", str(args.epochs), "--threads", str(args.threads)],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=3840)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is reported")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.n_images, args.epochs, args.threads)))
        return
    runs = {"1": [], "0": []}
    for _ in range(args.repeats):  # interleaved: the machine is shared
        for flag in runs:
            runs[flag].append(run_child(flag, args))
    from lensfinder.learning.config import resolve_config
    from defaults import describe

    best = {flag: {k: max(r[k] for r in rs) for k in ("train", "predict")} for flag, rs in runs.items()}
    print(f"he2020, {describe(resolve_config(None, model='he2020', batch_size=64))}, batch 64, "
          f"{args.n_images} images, {args.threads} threads, "
          f"best epoch after the first of {args.epochs}, best of {args.repeats} runs:")
    for what in ("train", "predict"):
        on, off = best["1"][what], best["0"][what]
        print(f"  {what:8s} oneDNN on (ours) {on:8.1f} images/s, off (TensorFlow's kernels) {off:8.1f}: "
              f"ratio {on / off:.2f}")


if __name__ == "__main__":
    main()
