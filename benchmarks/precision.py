"""Precision policies on this CPU: training in bfloat16, and scoring a network trained in mixed precision.

Training (``--train``, on by default): each ``--models`` network is compiled as ``lensfinder train`` compiles
it (batch 64, Adam) under ``float32`` (the baseline, what ``training.precision: auto`` runs on a CPU) and
under ``mixed_bfloat16`` (``training.precision: mixed_bfloat16``), and trained for ``--epochs`` epochs on
the same images in memory (the best epoch after the first); the ratio of the training rates is printed,
and whether this CPU has bfloat16 instructions (AVX-512 BF16 or AMX: without them TensorFlow emulates
bfloat16 and the ratio falls below 1).

Scoring: a network trained under Keras's ``mixed_float16`` policy (``training.precision: auto`` on a GPU) keeps
float16 layers in its ``.keras`` file. Loaded as it is, it computes in float16 on a CPU too, where
oneDNN has float16 kernels only on AVX-512 machines and falls back to slower ones elsewhere.
``lensfinder.learning.modelfiles.load_model(..., policy=...)``, which ``lensfinder infer`` and
``lensfinder finetune`` call with the machine's policy, rebuilds its mixed layers in float32 with
the same weights. This script saves each ``--models`` network under ``mixed_float16`` (untrained:
weights do not change the speed), then times ``model.predict`` on the same images for the file as
saved (the baseline) and as the pipeline loads it, best of ``--repeats`` (``benchmarks/timing.py``), and prints the ratio and
the largest difference of the lens probabilities; a difference above ``--max-p-difference`` (default 5e-3:
float16 keeps about three significant digits; the untrained networks' probabilities have differed by at
most 4.5e-4 on the two CPUs of docs/performance.md) makes the script exit 1.

The networks take the default's input, derived from ``TrainConfig``'s defaults by benchmarks/defaults.py:
the two-scale (``bin2_crop``) g, r, i input with the g-r colour residual, 49x49x8.

    .venv/bin/python benchmarks/precision.py [--models he2020 he2020_half] [--n-images 4096] [--threads 2]
        [--epochs 3] [--no-train]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["he2020", "he2020_half"])
    parser.add_argument("--n-images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=256, help="the workflow's inference.batch_size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per policy (the first traces)")
    parser.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                        help="also time training in float32 and mixed_bfloat16")
    parser.add_argument("--max-p-difference", type=float, default=5e-3,
                        help="largest lens-probability difference allowed between the network as saved and as "
                             "loaded in float32 (exit 1 above it)")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f"--epochs {args.epochs}: expected at least 2 (the first epoch traces)")

    from lensfinder.learning.modelfiles import load_model, save_model
    from lensfinder.learning.config import resolve_config
    from lensfinder.learning.models import build_model, compile_model, import_keras
    from lensfinder.learning.runtime import cpu_computes_bfloat16, gpu_visible, precision_policy, set_threads
    from timing import score_rate, train_and_score_rates  # benchmarks/timing.py, beside this script
    from defaults import describe, input_shape  # benchmarks/defaults.py, beside this script

    set_threads(args.threads)
    keras = import_keras()
    policy = precision_policy("auto", gpu_visible())
    configs = {name: resolve_config(None, model=name, batch_size=64) for name in args.models}  # the default's input
    shapes = {name: input_shape(config) for name, config in configs.items()}
    if len(set(shapes.values())) != 1:
        parser.error(f"--models {' '.join(args.models)}: expected networks of one input size")
    size, _, channels = shapes[args.models[0]]
    print(f"input: {describe(configs[args.models[0]])}")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n_images, size, size, channels)).astype(np.float32)
    y = rng.integers(0, 2, args.n_images).astype(np.int32)

    if args.train:
        print(f"this CPU computes in bfloat16 (AVX-512 BF16 or AMX): {cpu_computes_bfloat16()}")
        for name in args.models:
            config = configs[name]
            rates = {}
            for trained_in in ("float32", "mixed_bfloat16"):
                keras.mixed_precision.set_global_policy(trained_in)
                try:
                    keras.utils.set_random_seed(0)
                    model = compile_model(config, size, channels)
                    rates[trained_in] = train_and_score_rates(keras, model, (x, y), x, args.epochs, args.batch_size,
                                                              args.repeats, batch_size=config.batch_size,
                                                              shuffle=True)
                finally:
                    keras.mixed_precision.set_global_policy("float32")
            (train32, score32), (train16, score16) = rates["float32"], rates["mixed_bfloat16"]
            print(f"{name} trained on this machine ({args.threads} threads, {args.n_images} images, batch 64): "
                  f"float32 {train32:,.0f} images/s, mixed_bfloat16 {train16:,.0f} images/s, ratio "
                  f"{train16 / train32:.2f}x; scoring {score32:,.0f} and {score16:,.0f} images/s, ratio "
                  f"{score16 / score32:.2f}x")

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = Path(tmp) / f"{name}.keras"
            keras.mixed_precision.set_global_policy("mixed_float16")
            try:
                keras.utils.set_random_seed(0)
                save_model(build_model(name, shapes[name]), path)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            saved, p_saved = score_rate(load_model(path), x, args.batch_size, args.repeats)
            loaded, p_loaded = score_rate(load_model(path, policy=policy), x, args.batch_size, args.repeats)
            difference = float(np.abs(p_saved - p_loaded)[:, 1].max())
            worst = max(worst, difference)
            print(f"{name} trained in mixed_float16, scored on this machine ({args.threads} threads, "
                  f"{args.n_images} images): as saved {saved:,.0f} images/s, in {policy} {loaded:,.0f} images/s, "
                  f"ratio {loaded / saved:.2f}x; largest difference of p {difference:.1e}")
    if not worst <= args.max_p_difference:
        print(f"lens probabilities differ by {worst:.1e} between the file as saved and as loaded, above "
              f"--max-p-difference {args.max_p_difference:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
