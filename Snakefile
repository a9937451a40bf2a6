# lensfinder: a CNN search for galaxy-scale strong gravitational lenses.
#
#   snakemake --cores all                      # the whole search (default: mock survey)
#   snakemake --cores all --configfile my.yaml # your own configuration
#   snakemake --report results/report.html     # the report, after a run
#
# Stages: survey -> preselect -> stamps -> simulate -> train -> infer ->
# candidates -> (grades) -> merge_scores -> figures. See README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# helpers (no rules): config, bands, paths (paths.smk) and tiles; the simulated sets; training and
# exported networks; learning from the graders
include: "workflow/rules/common.smk"
include: "workflow/rules/simulation_common.smk"
include: "workflow/rules/training_common.smk"
include: "workflow/rules/rounds_common.smk"
# rules, stage by stage
include: "workflow/rules/survey.smk"
include: "workflow/rules/preselect.smk"
include: "workflow/rules/stamps.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/inspect.smk"
include: "workflow/rules/rounds.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/domain_shift.smk"
include: "workflow/rules/bands_test.smk"


rule all:
    input:
        all_targets(),
    default_target: True
