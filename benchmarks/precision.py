"""Scoring on a CPU a network trained in mixed precision (as on a GPU): as saved, and in the CPU's float32.

A network trained under Keras's ``mixed_float16`` policy (``training.precision: auto`` on a GPU) keeps
float16 layers in its ``.keras`` file. Loaded as it is, it computes in float16 on a CPU too, where
oneDNN has float16 kernels only on AVX-512 machines and falls back to slower ones elsewhere.
``lensfinder.learning.modelfiles.load_model(..., policy=...)``, which ``lensfinder infer`` and
``lensfinder finetune`` call with the machine's policy, rebuilds its mixed layers in float32 with
the same weights. This script saves each ``--models`` network under ``mixed_float16`` (untrained:
weights do not change the speed), then times ``model.predict`` on the same images for the file as
saved (the baseline) and as the pipeline loads it, best of ``--repeats`` (``benchmarks/timing.py``), and prints the ratio and
the largest difference of the lens probabilities.

    .venv/bin/python benchmarks/precision.py [--models he2020 he2020_half] [--n-images 4096] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
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
    args = parser.parse_args(argv)

    from lensfinder.learning.modelfiles import load_model, save_model
    from lensfinder.learning.models import build_model, import_keras
    from lensfinder.learning.runtime import gpu_visible, precision_policy, set_threads
    from timing import score_rate  # benchmarks/timing.py, beside this script

    set_threads(args.threads)
    keras = import_keras()
    policy = precision_policy("auto", gpu_visible())
    x = np.random.default_rng(0).normal(size=(args.n_images, 49, 49, 6)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = Path(tmp) / f"{name}.keras"
            keras.mixed_precision.set_global_policy("mixed_float16")
            try:
                keras.utils.set_random_seed(0)
                save_model(build_model(name, (49, 49, 6)), path)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            saved, p_saved = score_rate(load_model(path), x, args.batch_size, args.repeats)
            loaded, p_loaded = score_rate(load_model(path, policy=policy), x, args.batch_size, args.repeats)
            print(f"{name} trained in mixed_float16, scored on this machine ({args.threads} threads, "
                  f"{args.n_images} images): as saved {saved:,.0f} images/s, in {policy} {loaded:,.0f} images/s, "
                  f"ratio {loaded / saved:.2f}x; largest difference of p {np.abs(p_saved - p_loaded)[:, 1].max():.1e}")


if __name__ == "__main__":
    main()
