"""Weight averaging (`lensfinder average-networks`, training.soup): the mean of the weights, its record, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lensfinder.io import InputError
from lensfinder.learning import training
from lensfinder.learning.config import resolve_config
from lensfinder.learning.datasets import write_toy_shard
from lensfinder.learning.modelfiles import file_hash, load_model
from lensfinder.learning.soup import average_networks, average_weights


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory):
    """A network trained 1 epoch on toy shards, and a copy of it fine-tuned 1 epoch on other toy shards."""
    root = tmp_path_factory.mktemp("soup")
    first, other = root / "first", root / "other"
    for k in range(2):
        write_toy_shard(first, k, 40, seed=7)
        write_toy_shard(other, k, 40, seed=8)
    config = dict(epochs=1, batch_size=16, learning_rate=1e-3, val_fraction=0.2, preprocess="bin2")
    trained, finetuned = root / "trained.keras", root / "finetuned.keras"
    training.train([first], resolve_config(None, seed=5, **config), trained, threads=1)
    training.train([other], resolve_config(None, seed=6, **config), finetuned, threads=1, init_weights=trained)
    return root, trained, finetuned


def _weights(path):
    return [np.asarray(w) for w in load_model(path).get_weights()]


def test_average_weights_is_the_weighted_mean_array_by_array():
    a = [np.array([[0.0, 2.0]], np.float32), np.array([4.0], np.float32)]
    b = [np.array([[2.0, 4.0]], np.float32), np.array([0.0], np.float32)]
    mean = average_weights([a, b], [1, 1])
    np.testing.assert_allclose(mean[0], [[1.0, 3.0]])
    np.testing.assert_allclose(mean[1], [2.0])
    assert mean[0].dtype == np.float32
    quarter = average_weights([a, b], [3, 1])  # shares normalised: 0.75 and 0.25
    np.testing.assert_allclose(quarter[0], [[0.5, 2.5]])
    for bad_shares, message in (([1], "2 networks but 1 shares"), ([0, 0], "not all 0"), ([1, -1], ">= 0")):
        with pytest.raises(ValueError, match=message):
            average_weights([a, b], bad_shares)
    with pytest.raises(ValueError, match="not the same network"):
        average_weights([a, b[:1]], [1, 1])
    with pytest.raises(ValueError, match=r"weight array 1 has shapes .*not the same network"):
        average_weights([a, [b[0], np.zeros(2, np.float32)]], [1, 1])


def test_average_networks_writes_the_mean_and_names_its_ingredients(trained_pair, tmp_path, capsys):
    """The averaged file holds the mean of the two networks' weights (and differs from both), its sidecar
    is the first network's with `soup` listing both, it scores, and `lensfinder train` accepts it."""
    from lensfinder.cli import main

    root, trained, finetuned = trained_pair
    out = tmp_path / "soup.keras"
    assert main(["average-networks", "--models", str(trained), str(finetuned), "--out", str(out)]) == 0
    first, second, averaged = _weights(trained), _weights(finetuned), _weights(out)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))  # the fine-tuning moved the weights
    for a, b, m in zip(first, second, averaged, strict=True):
        np.testing.assert_allclose(m, (a.astype(np.float64) + b) / 2, rtol=1e-6, atol=1e-7)
    settings = json.loads(out.with_suffix(".json").read_text())
    trained_settings = json.loads(trained.with_suffix(".json").read_text())
    assert settings["weights_hash"] == file_hash(out) != trained_settings["weights_hash"]
    assert settings["seed"] == trained_settings["seed"] and settings["input_shape"] == trained_settings["input_shape"]
    assert [i["weights_hash"] for i in settings["soup"]] == [file_hash(trained), file_hash(finetuned)]
    assert [i["share"] for i in settings["soup"]] == [0.5, 0.5]
    assert [i["seed"] for i in settings["soup"]] == [5, 6]

    shares = tmp_path / "shares.keras"  # a quarter of the fine-tuned copy
    assert main(["average-networks", "--models", str(trained), str(finetuned), "--shares", "3", "1",
                 "--out", str(shares)]) == 0
    for a, b, m in zip(first, second, _weights(shares), strict=True):
        np.testing.assert_allclose(m, 0.75 * a.astype(np.float64) + 0.25 * b, rtol=1e-6, atol=1e-7)
    assert [i["share"] for i in json.loads(shares.with_suffix(".json").read_text())["soup"]] == [0.75, 0.25]

    scores = tmp_path / "scores.parquet"
    assert main(["infer", "--stamps", str(root / "first" / "shard_000.fits"), "--index",
                 str(root / "first" / "shard_000.parquet"), "--model", str(out), "--threads", "1",
                 "--out", str(scores)]) == 0
    kept = tmp_path / "kept.keras"  # a network to start from, as training.init_weights
    config = resolve_config(None, epochs=0, batch_size=16, val_fraction=0.2, preprocess="bin2", seed=5)
    training.train([root / "first"], config, kept, threads=1, init_weights=out)
    for a, b in zip(_weights(kept), averaged, strict=True):
        np.testing.assert_array_equal(a, b)


def test_average_networks_refuses_what_cannot_be_averaged(trained_pair, tmp_path, capsys):
    from lensfinder.cli import main

    root, trained, finetuned = trained_pair
    with pytest.raises(InputError, match="averaging needs two networks or more, got 1"):
        average_networks([trained], tmp_path / "one.keras")
    with pytest.raises(InputError, match="would overwrite a network it reads"):
        average_networks([trained, finetuned], finetuned)
    with pytest.raises(InputError, match=r"x\.h5: the averaged network's file must end in \.keras"):
        average_networks([trained, finetuned], tmp_path / "x.h5")
    assert main(["average-networks", "--models", str(trained), str(finetuned), "--shares", "1",
                 "--out", str(tmp_path / "s.keras")]) == 2
    assert "--shares: 1 shares for 2 --models" in capsys.readouterr().err

    # another input: the same network on crop instead of bin2 (a sidecar that says so)
    other = tmp_path / "crop.keras"
    config = resolve_config(None, epochs=1, batch_size=16, val_fraction=0.2, preprocess="crop", seed=5)
    training.train([root / "first"], config, other, threads=1)
    with pytest.raises(InputError, match=r"crop\.keras: preprocess 'crop', but trained\.keras's is 'bin2'"):
        average_networks([trained, other], tmp_path / "mixed.keras")
    # an ensemble file is not a network to average
    ensemble = tmp_path / "ensemble.keras"
    training.export_network(trained, ensemble, ensemble=[finetuned])
    with pytest.raises(InputError, match=r"ensemble\.keras: already an ensemble of 2 networks; average its networks"):
        average_networks([trained, ensemble], tmp_path / "e.keras")
    # a model file replaced under its sidecar
    swapped = tmp_path / "swapped.keras"
    swapped.write_bytes(finetuned.read_bytes())
    swapped.with_suffix(".json").write_text(trained.with_suffix(".json").read_text())
    with pytest.raises(InputError, match="the model file was replaced"):
        average_networks([trained, swapped], tmp_path / "w.keras")
    assert not any((tmp_path / n).exists() for n in ("one.keras", "x.h5", "s.keras", "mixed.keras", "e.keras",
                                                     "w.keras"))
