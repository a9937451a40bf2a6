"""The command line: every step is listed, documented, and starts without TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lensfinder.cli import STEPS, main


def test_top_level_help_lists_every_step(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert step in out


@pytest.mark.parametrize("step", sorted(STEPS))
def test_step_help(step, capsys):
    with pytest.raises(SystemExit) as exc:
        main([step, "--help"])
    assert exc.value.code == 0
    assert "usage: lensfinder " + step in capsys.readouterr().out


def test_no_module_imports_tensorflow_and_only_the_kernels_import_numba():
    """Start-up must stay cheap: TensorFlow loads only inside train/score functions,
    numba only with the compiled simulation kernels (imported when images are rendered)."""
    code = (
        "import importlib, pkgutil, re, sys\n"
        "import lensfinder\n"
        "from lensfinder.cli import STEPS, _build_parser\n"
        "for name in STEPS: _build_parser(name)\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(lensfinder.__path__, 'lensfinder.'))\n"
        "kernels = [n for n in names if n.startswith('lensfinder.simulation.') and importlib.util.find_spec(n) "
        "and re.search(r'^(from|import) numba', open(importlib.util.find_spec(n).origin).read(), re.M)]\n"
        "for m in names:\n"
        "    if m not in kernels and m != 'lensfinder.__main__': importlib.import_module(m)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'numba') if m in sys.modules]\n"
        "print(len(names), ','.join(kernels), ','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_modules, kernels, bad = (result.stdout.strip().split(" ") + [""])[:3]
    assert int(n_modules) > 50
    # the kernel modules, by name: a module that starts importing numba must be one of them
    assert set(kernels.split(",")) == {f"lensfinder.simulation.{name}" for name in
                                       ("compiled", "compiled_optics", "compiled_sersic", "fastmath")}
    assert bad == ""


def test_bad_input_is_reported_once_naming_the_step(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lensfinder", "simulate", "--recipe", "broad", "--n", "4",
                             "--set", "theta_E_arcsecc=1", "--out", str(tmp_path / "s")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "theta_E_arcsecc" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lensfinder simulate: error: --set: theta_E_arcsecc: unknown parameter")
    assert not list(tmp_path.iterdir())


def test_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nope.parquet"
    code = main(["preselect", "--catalog", str(missing), "--release", "dr4",
                 "--out", str(tmp_path / "f.parquet"), "--cutflow", str(tmp_path / "c.parquet")])
    assert code == 2
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "f.parquet").exists()


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "lensfinder", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("lensfinder ")


def test_tiles_from_expands_tile_patterns_in_the_files_order(tmp_path, capsys):
    """`--tiles-from FILE`: an argument holding {tile} stands for one argument per tile name in FILE, so that
    the workflow's commands over every tile of a survey stay short (Linux caps one at 128 KiB)."""
    import pandas as pd

    from lensfinder.cli import expand_tile_patterns

    names = tmp_path / "tiles.txt"
    names.write_text("KIDS_1.0_-30.0\n\nKIDS_0.5_-31.2\n")
    argv = ["merge-catalog", "--tiles-from", str(names), "--parts", f"{tmp_path}/{{tile}}.parquet", "--out", "o"]
    assert expand_tile_patterns(argv) == ["merge-catalog", "--parts", f"{tmp_path}/KIDS_1.0_-30.0.parquet",
                                          f"{tmp_path}/KIDS_0.5_-31.2.parquet", "--out", "o"]
    for k, tile in enumerate(("KIDS_1.0_-30.0", "KIDS_0.5_-31.2")):
        pd.DataFrame({"ID": [f"{tile}-{k}"], "MASK": [k]}).to_parquet(tmp_path / f"{tile}.parquet")
    argv[-1] = str(tmp_path / "merged.parquet")
    assert main(argv) == 0
    assert pd.read_parquet(tmp_path / "merged.parquet")["ID"].tolist() == ["KIDS_1.0_-30.0-0", "KIDS_0.5_-31.2-1"]
    assert main(["merge-catalog", "--tiles-from", str(tmp_path / "none.txt"), "--parts", "{tile}", "--out", "o"]) == 2
    assert "none.txt: file not found" in capsys.readouterr().err
    # the list_tiles table (kids.tiles: all, kids.region) serves as it is
    table = tmp_path / "tiles.csv"
    table.write_text("tile,ra_deg,dec_deg\nKIDS_0.5_-31.2,0.5,-31.2\n")
    assert expand_tile_patterns(["x", "--tiles-from", str(table), "a/{tile}.fits"]) == ["x", "a/KIDS_0.5_-31.2.fits"]
    assert main(["merge-catalog", "--tiles-from", str(names), "--parts", "a.parquet", "--out", "o"]) == 2
    assert "no argument holds {tile}" in capsys.readouterr().err
