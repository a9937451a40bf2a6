"""The benchmarks/ scripts: they must run, and print their ratios, though they are rarely run.

Their speeds are never asserted (benchmarks print ratios; tests never time). benchmarks/gpu.py, the
script a session with a GPU runs, builds and trains the networks it names at the papers' sizes, and
on a machine without a GPU it says so and measures the CPU alone, instead of training the GPU's
100,000 images on the CPU. The scripts that run in seconds at their smallest settings run so here,
each to exit code 0 with its ratio line (their checks, which fail them with exit 1, included).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lensfinder.constants import HE2020_N_PARAMETERS
from lensfinder.learning.config import HE2020_CASES
from helpers.early_runs import early_test

REPO = Path(__file__).resolve().parents[1]


@early_test(20)
def test_gpu_benchmark_measures_the_cpu_and_names_a_missing_gpu(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--cases", "he2020_paper", "--cpu-images", "256",
         "--epochs", "2", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600, env={**_env(), "CUDA_VISIBLE_DEVICES": "-1"},  # the -1 wins
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no GPU visible to Keras's tensorflow backend: CPU figures only" in result.stdout
    (record,) = json.loads(out.read_text())
    # He et al. 2020: their network (section 2) at their batch (Table 5, case 0), float32 on the CPU
    assert record["device"] == "cpu" and record["policy"] == "float32"
    assert record["model"] == "he2020" and record["input_shape"] == [49, 49, 1]
    assert record["n_parameters"] == HE2020_N_PARAMETERS == 2_101_372
    assert record["batch_size"] == HE2020_CASES["case0"]["batch_size"] == 32
    assert record["n_images"] == 256 and record["epochs"] == 2
    assert record["train_images_per_s"] > 0 and record["score_images_per_s"] > 0
    assert "he2020_paper on the cpu (tensorflow, float32)" in result.stdout


def test_gpu_benchmark_refuses_fewer_images_than_a_scoring_batch(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--cpu-images", "100"],
                            capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 2
    assert "--cpu-images 100: expected at least --batch-inference (256)" in result.stderr


def _env() -> dict:
    """This environment without KERAS_BACKEND: the pipeline's backend, TensorFlow."""
    return {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}


def test_roofline_counts_each_layers_multiply_adds_from_its_weights():
    """benchmarks/roofline.py's work per image: a dense layer does one multiply-add per weight, a
    convolution one per weight at every output pixel (He et al. 2020's network, section 2)."""
    import importlib.util

    from lensfinder.learning.models import build_model

    spec = importlib.util.spec_from_file_location("roofline", REPO / "benchmarks" / "roofline.py")
    roofline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roofline)
    model = build_model("he2020", (49, 49, 1))
    counts = roofline.multiply_adds(model)
    assert list(counts) == ["conv1", "conv2", "fc1", "fc2", "logits"]
    weights = {layer.name: math.prod(layer.kernel.shape) for layer in model.layers if layer.name in counts}
    # 5x5 valid convolutions and 2x2 poolings: 49 -> 45 -> 22 -> 18 -> 9 pixels a side
    assert counts["conv1"] == 45 * 45 * weights["conv1"] and counts["conv2"] == 18 * 18 * weights["conv2"]
    assert all(counts[name] == weights[name] for name in ("fc1", "fc2", "logits"))
    biases = sum(math.prod(layer.bias.shape) for layer in model.layers if layer.name in counts)
    assert sum(weights.values()) + biases == model.count_params() == HE2020_N_PARAMETERS


def _load(name: str):
    """A benchmarks/ script as a module (one that imports no sibling at import time)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_build_the_default_network_at_the_input_training_builds(tmp_path):
    """benchmarks/defaults.py, which onednn.py, roofline.py, scorer_start.py, precision.py and gpu.py's
    default cases take the default network's input from: TrainConfig's defaults on the default run's bands
    (config/config.yaml: bands null, the mock KiDS preset's g, r, i) give what training's stream builds,
    g, r, i and the g-r residual at two scales."""
    import yaml

    from lensfinder.learning.config import resolve_config
    from lensfinder.learning.datasets import ShardSet, write_toy_shard
    from lensfinder.learning.stream import TrainingStream
    from lensfinder.surveys.presets import get_preset

    defaults = _load("defaults")
    config_yaml = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config_yaml["bands"] is None and get_preset(config_yaml["mock"]["preset"]).bands == defaults.DEFAULT_BANDS
    write_toy_shard(tmp_path, 0, 8, seed=0, bands=list(defaults.DEFAULT_BANDS))
    shards = ShardSet([tmp_path])
    rows = np.arange(len(shards))
    config = resolve_config(None)
    stream = TrainingStream(shards, rows, rows[:0], config, cache_mb=0)
    assert defaults.input_shape(config) == stream.input_shape == (49, 49, 8)
    assert defaults.describe(config) == "49x49x8 (bin2_crop of g, r, i + the g-r residual)"
    assert defaults.input_shape(config, ("r",)) == (49, 49, 2)  # no residual without g and r


#: benchmarks/ scripts at their smallest settings (seconds each on 2 cores), and the line with the
#: ratio each must print; its value is never asserted (benchmarks print ratios, tests never time).
#: Left out, as they take minutes or only repeat what is run here: simulate.py (compiles and renders
#: thousands of images against lenstronomy), pipeline_end.py (several Keras fits of 120 batches, by
#: design), onednn.py and roofline.py (child trainings of the network; roofline's work count is tested
#: above), grading.py and mock_survey.py (a mock survey's tiles), gpu.py (its own test above).
SMOKE = {
    "infer": (["--n-images", "256", "--batch-size", "256", "--repeats", "1", "--tiles", "0", "--skip-memory",
               "--threads", "1"], r"ratio disk / memory\s+:\s+[\d.]+ \("),
    "stamps": (["--n-objects", "50", "--tile-pix", "300", "--repeat", "1"], r"ratio vs Cutout2D \(pixel\)\s+:\s+[\d.]+x"),
    "residual": (["--n", "20", "--repeat", "1"], r"\n  ratio\s+[\d.]+x\n"),
    "mosaic": (["--n", "4", "--repeat", "1"], r"layout \(both at zlib level 1\):\n.*\n.*\n  ratio [\d.]+x"),
    "train": (["--n-images", "64", "--epochs", "2", "--repeats", "1", "--batch-size", "16", "--threads", "1",
               "--bands", "g", "r", "i"], r"ratio disk / memory\s+:\s+[\d.]+"),
    "templates": (["--repeat", "1", "--n", "8"], r"ratio: [\d.]+x for the fluxes"),
    "keras_start": (["--repeat", "1"], r"ratio \(baseline / ours\): [\d.]+x wall"),
    "scorer_start": (["--repeat", "1", "--batch", "8"], r"first call \(trace \+ batch\): ours [\d.]+ s, baseline [\d.]+ s, [\d.]+x"),
    "precision": (["--models", "he2020_half", "--n-images", "64", "--batch-size", "64", "--repeats", "1",
                   "--threads", "1", "--no-train"], r"ratio [\d.]+x; largest difference of p"),
}
#: what else a script's output must say: the checks it enforces, the input it builds
SMOKE_SAYS = {
    "stamps": ["identical stamps: True"],
    "mosaic": ["decoded pixels identical: True\nmosaic", "decoded pixels identical: True\n  layout"],
    "train": ["he2020 on 49x49x8, 64 images of 101x101 in g,r,i"],  # the baseline builds the stream's input
    "templates": ["images with and without the table identical"],
    "scorer_start": ["he2020 on 49x49x8 (bin2_crop of g, r, i + the g-r residual)", "scores: the same bits"],
    "precision": ["input: 49x49x8 (bin2_crop of g, r, i + the g-r residual)"],
}


@early_test(10)
@pytest.mark.parametrize("script", list(SMOKE), ids=list(SMOKE))
def test_benchmark_runs_at_its_smallest_settings_and_prints_its_ratio(workdir, script):
    args, ratio_line = SMOKE[script]
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{script}.py"), *args], cwd=workdir,
                            capture_output=True, text=True, timeout=300,
                            env={**_env(), "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    output = result.stdout + result.stderr  # infer.py and train.py log to stderr
    assert result.returncode == 0, output[-3000:]
    assert re.search(ratio_line, output), output[-3000:]
    for text in SMOKE_SAYS.get(script, []):
        assert text in output, output[-3000:]


def test_residual_benchmark_fails_when_the_grid_choices_disagree():
    """benchmarks/residual.py exits 1 when fewer matched stamps than --min-agreement agree (here: more than all)."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "residual.py"), "--n", "20", "--repeat", "1",
                             "--min-agreement", "1.01"], capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "below --min-agreement 101%" in result.stderr
