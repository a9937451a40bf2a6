"""Training and scoring images/s of the search's networks on a GPU, against the CPU of the same machine.

Four cases, each a network at its input and batch size as the pipeline runs it:

- ``default``: he2020 on the default run's input: g, r, i and the g-r colour
  residual (``colour_residual: auto``) at two scales (``bin2_crop``),
  49x49x8, batch 64, Adam at 1e-3 (the channels derived from ``TrainConfig``'s
  defaults as training derives them: benchmarks/defaults.py);
- ``default_half``: the same with ``he2020_half`` (half the convolution
  filters, ``training.model: he2020_half``);
- ``he2020_paper``: He et al. 2020's network and training: r alone, 49x49x1,
  batch 32, Adam at 0.03 (Table 5, case 0);
- ``li2020_paper``: Li et al. 2020's ResNet-18 on r-band 101x101 stamps,
  batch 64, Adam at 1e-3.

Each case runs in a child process per device, on images held in memory (a
network's speed does not depend on its pixel values, and the pipeline's input
stream is timed by benchmarks/train.py): the network is built by
``lensfinder.learning.models.compile_model``, as ``lensfinder train`` builds
and compiles it (Adam with He et al.'s epsilon, the 2-way cross-entropy), trained
for ``--epochs`` epochs (images/s of the best epoch after the first, which
traces), then scores the images with ``model.predict`` (best of ``--repeats``
after a warm-up). On the GPU the networks run in mixed precision
(``mixed_float16``, what ``lensfinder.learning.runtime`` sets when a GPU is
visible; ``--policy`` tries another, e.g. ``mixed_bfloat16``) on
``--gpu-images`` images: 100,000 by default, the size of He et al.'s training
set (section 3.4), so that ``he2020_paper`` is a paper-size set. The CPU,
the baseline, runs float32 on ``--cpu-images`` images with every core. The
ratio GPU / CPU is printed per case and rate. (The figures in
docs/performance.md of the ``default`` cases were measured on 49x49x6, before
the script gave them the colour residual.)

The Keras backend is the environment's ``KERAS_BACKEND`` (the pipeline's
default, TensorFlow, when unset). The GPU machines this project borrows have
JAX and no TensorFlow, whose wheel (600 MB) cannot travel there:
``KERAS_BACKEND=jax`` measures the same networks with the same layers there
(carry the keras, namex and optree wheels and put ``src`` on ``PYTHONPATH``;
nothing else of lensfinder is imported). TensorFlow on a GPU also makes its
ops deterministic in the pipeline (``configure_tensorflow``), which this
script leaves off on every backend. Without a GPU the script prints the CPU
figures and says that no GPU was visible.

    .venv/bin/python benchmarks/gpu.py [--cases default he2020_paper li2020_paper] [--epochs 3]
        [--gpu-images 100000] [--cpu-images 2048] [--devices cpu gpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from defaults import DEFAULT_BANDS, input_shape  # noqa: E402  (benchmarks/defaults.py, beside this script)

#: case -> network, bands, input resizing (None: ``TrainConfig``'s default, ``bin2_crop``; with the network
#: and the colour residual, ``TrainConfig``'s default ``auto``, they give the input's size and channels as
#: training derives them: benchmarks/defaults.py), and He et al.'s training preset (its batch and learning
#: rate) or a batch size (the learning rate then lensfinder train's default)
CASES = {
    "default": {"model": "he2020", "bands": DEFAULT_BANDS, "preprocess": None, "preset": None, "batch_size": 64},
    "default_half": {"model": "he2020_half", "bands": DEFAULT_BANDS, "preprocess": None, "preset": None,
                     "batch_size": 64},
    "he2020_paper": {"model": "he2020", "bands": ("r",), "preprocess": "bin2", "preset": "case0", "batch_size": None},
    "li2020_paper": {"model": "resnet18", "bands": ("r",), "preprocess": "bin2", "preset": None, "batch_size": 64},
}


def _device(keras) -> str:
    """``gpu`` when the backend computes on a GPU, else ``cpu``."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "gpu" if jax.default_backend() == "gpu" else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def child(case: str, n_images: int, epochs: int, repeats: int, policy: str, batch_inference: int) -> dict:
    """One case on the device this process sees: the record of its rates."""
    import numpy as np

    from lensfinder.learning.config import resolve_config
    from lensfinder.learning.models import compile_model, import_keras
    from timing import train_and_score_rates  # benchmarks/timing.py, beside this script

    spec = CASES[case]
    config = resolve_config(spec["preset"], model=spec["model"], batch_size=spec["batch_size"],
                            preprocess=spec["preprocess"])
    keras = import_keras()
    device = _device(keras)
    keras.mixed_precision.set_global_policy(policy if device == "gpu" else "float32")
    keras.utils.set_random_seed(0)
    size, _, channels = input_shape(config, spec["bands"])  # as training's
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_images, size, size, channels)).astype(np.float32)
    y = rng.integers(0, 2, n_images).astype(np.int32)
    model = compile_model(config, size, channels)
    train, score = train_and_score_rates(keras, model, (x, y), x, epochs, batch_inference, repeats,
                                         batch_size=config.batch_size, shuffle=True)
    return {"case": case, "device": device, "backend": keras.backend.backend(),
            "policy": keras.mixed_precision.global_policy().name, "model": spec["model"],
            "input_shape": [size, size, channels], "n_parameters": int(model.count_params()),
            "batch_size": config.batch_size, "n_images": n_images, "epochs": epochs,
            "train_images_per_s": train, "score_images_per_s": score,
            "batch_inference": batch_inference}


def gpu_visible() -> tuple[bool, str]:
    """Whether the Keras backend sees a GPU, asked of a child process (nothing is trained), and the backend."""
    out = subprocess.run([sys.executable, __file__, "--probe"], check=True, capture_output=True, text=True)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    return record["device"] == "gpu", record["backend"]


def run_child(case: str, device: str, args) -> dict:
    """``child`` in a fresh process: ``cpu`` hides every GPU from TensorFlow, JAX and PyTorch."""
    env = dict(os.environ)
    if device == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="-1", JAX_PLATFORMS="cpu")
    n_images = args.cpu_images if device == "cpu" else args.gpu_images
    out = subprocess.run([sys.executable, __file__, "--child", case, "--n-images", str(n_images),
                          "--epochs", str(args.epochs), "--repeats", str(args.repeats), "--policy", args.policy,
                          "--batch-inference", str(args.batch_inference)],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--devices", nargs="+", choices=["cpu", "gpu"], default=["cpu", "gpu"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gpu-images", type=int, default=100_000, help="images per case on the GPU")
    parser.add_argument("--cpu-images", type=int, default=2048, help="images per case on the CPU (the baseline)")
    parser.add_argument("--repeats", type=int, default=3, help="scoring passes; the best is reported")
    parser.add_argument("--batch-inference", type=int, default=256, help="batch of the scoring (the workflow's)")
    parser.add_argument("--policy", default="mixed_float16", help="Keras precision policy on the GPU")
    parser.add_argument("--json", help="also write the records here (a JSON list)")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n-images", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: expected at least 1")
    for option, value in (("--gpu-images", args.gpu_images), ("--cpu-images", args.cpu_images)):
        if value < args.batch_inference:
            parser.error(f"{option} {value}: expected at least --batch-inference ({args.batch_inference})")
    if args.probe:
        from lensfinder.learning.models import import_keras

        keras = import_keras()
        print(json.dumps({"device": _device(keras), "backend": keras.backend.backend()}))
        return
    if args.child:
        print(json.dumps(child(args.child, args.n_images, args.epochs, args.repeats, args.policy,
                               args.batch_inference)))
        return
    devices = list(args.devices)
    if "gpu" in devices:
        visible, backend = gpu_visible()
        if not visible:
            print(f"no GPU visible to Keras's {backend} backend: CPU figures only")
            devices.remove("gpu")
    records = []
    for case in args.cases:
        by_device = {}
        for device in devices:
            record = run_child(case, device, args)
            by_device[device] = record
            records.append(record)
            print(f"{case} on the {device} ({record['backend']}, {record['policy']}): {record['model']} "
                  f"{'x'.join(map(str, record['input_shape']))}, {record['n_parameters']:,} parameters, "
                  f"batch {record['batch_size']}, {record['n_images']:,} images: training "
                  f"{record['train_images_per_s']:,.0f} images/s, scoring {record['score_images_per_s']:,.0f} "
                  f"images/s (batch {record['batch_inference']})")
        if {"cpu", "gpu"} <= set(by_device):
            gpu, cpu = by_device["gpu"], by_device["cpu"]
            print(f"{case}: ratio GPU / CPU: training {gpu['train_images_per_s'] / cpu['train_images_per_s']:.1f}x, "
                  f"scoring {gpu['score_images_per_s'] / cpu['score_images_per_s']:.1f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
