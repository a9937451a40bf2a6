"""How close the default network's training and scoring come to what this CPU can compute.

Issue 13's goals were met only by networks trained on 96,000 images (20
minutes of training on 2 cores; docs/experiments.md), eight times the
default's 12,000. This script asks whether those steps could be won from
the software on the same cores, or only from more hardware: it counts the
floating-point work of the workflow's default network per image (he2020 on
the default's input, derived from ``TrainConfig``'s defaults by
benchmarks/defaults.py: the two-scale input of g, r, i and the g-r colour
residual, 49x49x8; batch 64, Adam, compiled by
``lensfinder.learning.models.compile_model``), measures its training and
scoring images/s on random images, and sets the FLOP/s that gives against
the baseline, a float32 matrix product (``tf.linalg.matmul`` of two
``--gemm-size`` square matrices: the CPU's best case for dense float32
arithmetic, at the cores' fused multiply-add peak) on the same threads in
the same process. The ratio is the share of the CPU's reachable speed the
network uses; its inverse is the most any kernel or compiler setting could
still win.

Work per image: a convolution's multiply-adds are output pixels x filters x
kernel area x input channels, a dense layer's inputs x outputs; training
counts each three times (forward, the gradient with respect to the inputs
and with respect to the weights; the first layer's input gradient, which is
not computed, is left in, so the count is at most 1/3 of that layer too
high), 2 FLOP per multiply-add. Pooling, activations, the loss and Adam's
update are left out (a few per cent).

The same for ``he2020_half`` (half the convolution filters), and its rates
set against the full network's.

    .venv/bin/python benchmarks/roofline.py [--models he2020 he2020_half] [--n-images 3840] [--epochs 3]
        [--threads 2] [--gemm-size 1024]
"""

from __future__ import annotations

import argparse
import os
import time


def multiply_adds(model) -> dict:
    """Forward multiply-adds per image of every Conv2D and Dense layer of ``model``."""
    counts = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw = layer.kernel_size
            _, oh, ow, filters = layer.output.shape
            counts[layer.name] = oh * ow * filters * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            counts[layer.name] = layer.input.shape[-1] * layer.units
    return counts


def gemm_flops(tf, size: int, seconds: float = 2.0) -> float:
    """Best FLOP/s of a float32 ``size`` x ``size`` matrix product over ``seconds``."""
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(lambda a, b: tf.linalg.matmul(a, b))
    matmul(a, b).numpy()
    best, stop = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = max(best, 2.0 * size**3 / (time.perf_counter() - start))
    return best


def measure(keras, tf, config, x, y) -> dict:
    """Training and scoring images/s of ``config.model`` on the images ``x``, its work per image."""
    from lensfinder.learning.models import compile_model
    from timing import train_and_score_rates  # benchmarks/timing.py, beside this script

    model = compile_model(config, x.shape[1], x.shape[-1])
    counts = multiply_adds(model)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch_size).cache().prefetch(2)
    train, score = train_and_score_rates(keras, model, (data,), x, config.epochs, batch_inference=256, repeats=3)
    forward = 2.0 * sum(counts.values())
    return {"counts": counts, "forward": forward, "training": 3.0 * forward, "train": train, "score": score}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["he2020", "he2020_half"],
                        help="networks to measure (default he2020 and he2020_half; the second is also set "
                             "against the first)")
    parser.add_argument("--n-images", type=int, default=3840)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--gemm-size", type=int, default=1024)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np

    from lensfinder.learning.config import resolve_config
    from lensfinder.learning.models import import_keras
    from lensfinder.learning.runtime import configure_tensorflow
    from defaults import describe, input_shape  # benchmarks/defaults.py, beside this script

    configs = [resolve_config(None, model=name, epochs=args.epochs, batch_size=64)  # the default's input
               for name in args.models]
    size, _, channels = input_shape(configs[0])
    if any(input_shape(config) != (size, size, channels) for config in configs):
        parser.error(f"--models {' '.join(args.models)}: expected networks of one input size")
    configure_tensorflow(configs[0].seed, args.threads)
    keras = import_keras()
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n_images, size, size, channels)).astype(np.float32)
    y = rng.integers(0, 2, args.n_images).astype(np.int32)
    results = {config.model: measure(keras, tf, config, x, y) for config in configs}
    peak = gemm_flops(tf, args.gemm_size)

    print(f"{describe(configs[0])}, batch 64, {args.threads} threads; "
          f"{args.n_images} random images, best epoch after the first of {args.epochs}")
    print(f"  baseline: float32 matrix product {args.gemm_size}x{args.gemm_size}: {peak / 1e9:.1f} GFLOP/s")
    for name, r in results.items():
        print(f"{name}: forward multiply-adds per image "
              + ", ".join(f"{layer} {n / 1e6:.2f} M" for layer, n in r["counts"].items())
              + f"; {r['forward'] / 1e6:.1f} MFLOP forward, {r['training'] / 1e6:.1f} MFLOP per training image")
        for what, flop in (("train", r["training"]), ("score", r["forward"])):
            achieved = r[what] * flop
            print(f"  {what:6s} {r[what]:8.1f} images/s = {achieved / 1e9:6.1f} GFLOP/s: ratio to the matrix "
                  f"product {achieved / peak:.2f} (at most {peak / achieved:.1f}x left to win)")
        for label, images in (("the default (12,000 images)", 12_000), ("search_large (96,000 images)", 96_000)):
            steps = images * 12
            print(f"  12 epochs of {label}: {steps * r['training'] / 1e12:.1f} TFLOP: {steps / r['train']:.0f} s "
                  f"at the measured rate, {steps * r['training'] / peak:.0f} s at the matrix product's")
    if len(results) > 1:
        (first, a), *others = results.items()
        for name, b in others:
            print(f"{name} against {first}: work per training image {b['training'] / a['training']:.2f}, "
                  f"training images/s {b['train'] / a['train']:.2f}x, scoring {b['score'] / a['score']:.2f}x")


if __name__ == "__main__":
    main()
