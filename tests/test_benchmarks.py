"""benchmarks/gpu.py, the script a session with a GPU runs: it must work where it is rarely run.

Its speeds are not asserted (benchmarks print ratios; tests never time). What is: it builds and
trains the networks it names at the papers' sizes, and on a machine without a GPU it says so and
measures the CPU alone, instead of training the GPU's 100,000 images on the CPU.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

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
        capture_output=True, text=True, timeout=600, env={"CUDA_VISIBLE_DEVICES": "-1", **_env()},
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
