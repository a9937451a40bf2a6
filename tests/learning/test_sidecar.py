"""The settings sidecar beside each network: its round trip, its errors, and the hash of the weights it was written for."""

from __future__ import annotations

import json

import pytest

from lensfinder.io import InputError
from lensfinder.learning import sidecar as sc

SETTINGS = {"model": "he2020", "input_shape": [49, 49, 1], "stamp_size": 101, "preprocess": "bin2",
            "normalization": "minmax", "seed": 1}


def test_settings_round_trip_and_mismatch(tmp_path):
    model = tmp_path / "he2020.keras"
    path = sc.write_settings(SETTINGS, model)
    assert path == tmp_path / "he2020.json"
    got = sc.read_settings(model, normalization="minmax", preprocess="bin2", input_size=49)
    assert got["normalization"] == "minmax" and got["settings_version"] == sc.SETTINGS_VERSION
    with pytest.raises(InputError, match=r"he2020.json: normalization: .*'minmax'.*'asinh'"):
        sc.read_settings(model, normalization="asinh")
    with pytest.raises(InputError, match="input_shape"):
        sc.read_settings(model, input_size=101)
    with pytest.raises(InputError, match="preprocess"):
        sc.read_settings(model, preprocess="crop")


def test_bad_sidecars(tmp_path):
    with pytest.raises(InputError, match="settings file not found"):
        sc.read_settings(tmp_path / "none.keras")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(InputError, match="a.json: not readable JSON"):
        sc.read_settings(tmp_path / "a.keras")
    (tmp_path / "b.json").write_text(json.dumps({**SETTINGS, "normalization": "zscale"}))
    with pytest.raises(InputError, match="b.json: normalization"):
        sc.read_settings(tmp_path / "b.keras")
    (tmp_path / "c.json").write_text(json.dumps({"model": "he2020"}))
    with pytest.raises(InputError, match="c.json: missing key"):
        sc.read_settings(tmp_path / "c.keras")
    # a hand-edited stamp size that cannot prepare to the input: one line, not a TensorFlow traceback at scoring
    (tmp_path / "d.json").write_text(json.dumps({**SETTINGS, "stamp_size": 97}))
    with pytest.raises(InputError, match=r"d.json: stamp_size: 97 does not prepare to input_shape \[49, 49, 1\] "
                                         r"with preprocess bin2 \(bin2 needs stamps of at least 98x98"):
        sc.read_settings(tmp_path / "d.keras")
    for ok in ({"stamp_size": 49}, {"stamp_size": 97, "preprocess": "crop"}):  # bin2 of the input's own size: as is
        (tmp_path / "e.json").write_text(json.dumps({**SETTINGS, **ok}))
        assert sc.read_settings(tmp_path / "e.keras")["stamp_size"] == ok["stamp_size"]


def test_weights_hash_is_that_of_the_model_file_written(tmp_path):
    import zipfile

    from lensfinder.learning.modelfiles import file_hash

    model = tmp_path / "net.keras"

    def save(weights: bytes):
        with zipfile.ZipFile(model, "w") as archive:  # the layout of a .keras file
            archive.writestr("config.json", "{}")
            archive.writestr("model.weights.h5", weights)

    sc.write_settings({**SETTINGS, "weights_hash": "copied"}, model)  # no model yet: no hash, not a copied one
    assert "weights_hash" not in sc.read_settings(model)
    save(b"weights v1")
    sc.write_settings({**SETTINGS, "weights_hash": "copied"}, model)
    settings = sc.read_settings(model)
    assert settings["weights_hash"] == file_hash(model)
    sc.check_weights_hash(settings, file_hash(model), model)
    save(b"weights v2")
    with pytest.raises(InputError, match=r"net.keras: weights hash \w+, but its settings .*net.json were written "
                                         r"for weights \w+: the model file was replaced"):
        sc.check_weights_hash(settings, file_hash(model), model)
