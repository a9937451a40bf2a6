"""The tiny run (config/test.yaml, the whole pipeline) and its reproducibility twin, as early runs
(tests/helpers/early_runs.py) that any test module can take: importing this module registers them,
so a module that marks a test ``early_run("tiny")`` runs alone as well as in the whole suite."""

from __future__ import annotations

from functools import partial

from helpers.early_runs import early_run
from helpers.workflow_run import copy_workflow, snakemake

__all__ = ["TWIN_TARGETS", "TWIN_IMAGES", "TWIN_TABLES", "tiny_run_in"]


#: what the reproducibility twin of the tiny run makes, and the images and tables it compares
TWIN_TARGETS = ("results/predictions/he2020.parquet", "results/eval/he2020_metrics.parquet")
TWIN_IMAGES = ("results/survey/tiles/MOCK_0.r.fits", "results/stamps/MOCK_1.fits", "results/sim/train/shard_001.fits")
TWIN_TABLES = ("results/catalog/catalog.parquet", "results/preselect/tiles/MOCK_1.parquet",
               "results/sim/test/shard_000.parquet", *TWIN_TARGETS)


def tiny_run_in(workdir, targets=(), keep=None):
    """The tiny configuration in a copy of the workflow in ``workdir`` (returned), as far as ``targets``.

    ``keep``: the only result files to keep once the run ends (the others
    go, as no test reads them: disk).
    """
    copy_workflow(workdir)
    snakemake(workdir, *targets, "--cores", "2", "--configfile", "config/test.yaml")
    if keep is not None:
        for path in (workdir / "results").rglob("*"):
            if path.is_file() and path.relative_to(workdir).as_posix() not in keep:
                path.unlink()
    return workdir


early_run("tiny", expected_s=450)(tiny_run_in)
# the reproducibility twin: the tiny run again, in another directory
early_run("tiny_twin", expected_s=220)(partial(tiny_run_in, targets=TWIN_TARGETS, keep=TWIN_IMAGES + TWIN_TABLES))
