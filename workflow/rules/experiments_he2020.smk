# He et al. 2020's experiments, tables and figures (the named targets are in experiments.smk, which
# includes this file; the shared simulate / train / score rules and the helpers are there and in
# experiments_common.smk): psf_test, volume_test, sersic_test, entropy, net_comparison.


# --- psf_test: He et al. section 5.1, Fig. 10 --------------------------------


rule psf_test_table:
    input:
        psf_metrics(),
    output:
        table=f"{EXP_DIR}/psf_test/tables/psf_test.parquet",
        csv=report(
            f"{EXP_DIR}/psf_test/tables/psf_test.csv",
            caption="../report/experiments/psf_test_table.rst",
            category="Experiments",
            subcategory="PSF test (He et al. 2020, Fig. 10)",
        ),
    params:
        labels=psf_labels(),
        reference=EXP["psf_test"]["reference_fwhm_arcsec"],
        # for the caption: the fiducial network's training PSF and grid
        training_psf=PSF_TEST_TRAINING["psf"],
        grid=PSF_TEST_TRAINING["grid"],
    log:
        f"{EXP_DIR}/logs/tables/psf_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind psf_test --metrics {input} --labels {params.labels} "
        "--reference-fwhm-arcsec {params.reference} --out {output.table} > {log} 2>&1"


rule psf_test_figure:
    input:
        f"{EXP_DIR}/psf_test/tables/psf_test.parquet",
    output:
        report(
            f"{EXP_DIR}/psf_test/figures/fig10_psf.png",
            caption="../report/experiments/psf_test.rst",
            category="Experiments",
            subcategory="PSF test (He et al. 2020, Fig. 10)",
        ),
    params:
        # for the caption: the fiducial network's training PSF and grid
        training_psf=PSF_TEST_TRAINING["psf"],
        grid=PSF_TEST_TRAINING["grid"],
    log:
        f"{EXP_DIR}/logs/figures/psf_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind psf_test --tables {input} --out {output} > {log} 2>&1"


# --- volume_test: He et al. section 5.2, Figs. 11-13, Table 5 ---------------


rule volume_test_tables:
    input:
        volume_metrics(),
    output:
        points=f"{EXP_DIR}/volume_test/tables/points.parquet",
        points_csv=report(
            f"{EXP_DIR}/volume_test/tables/points.csv",
            caption="../report/experiments/volume_points.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=volume_labels(),
        threshold=EXP["volume_test"]["threshold"],
        parent=EXP["volume_test"]["parent"]["n_images"],
    log:
        f"{EXP_DIR}/logs/tables/volume_points.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_points --metrics {input} --labels {params.labels} "
        "--threshold {params.threshold} --parent-size {params.parent} --out {output.points} > {log} 2>&1"


rule volume_test_table5:
    input:
        volume_metrics(),
    output:
        table=f"{EXP_DIR}/volume_test/tables/table5.parquet",
        csv=report(
            f"{EXP_DIR}/volume_test/tables/table5.csv",
            caption="../report/experiments/volume_table5.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=volume_labels(),
        threshold=EXP["volume_test"]["threshold"],
    log:
        f"{EXP_DIR}/logs/tables/volume_table5.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_table5 --metrics {input} --labels {params.labels} "
        "--threshold {params.threshold} --out {output.table} > {log} 2>&1"


rule volume_test_valsize_table:
    input:
        valsize_metrics(),
    output:
        table=f"{EXP_DIR}/volume_test/tables/valsize.parquet",
        csv=report(
            f"{EXP_DIR}/volume_test/tables/valsize.csv",
            caption="../report/experiments/volume_valsize.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=valsize_labels(),
        thresholds=valsize_thresholds(),
    log:
        f"{EXP_DIR}/logs/tables/volume_valsize.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_valsize --metrics {input} --labels {params.labels} "
        "--thresholds {params.thresholds} --out {output.table} > {log} 2>&1"


rule volume_test_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/points.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/fig11_fig12_volume.png",
            caption="../report/experiments/volume_points.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume --tables {input} --out {output} > {log} 2>&1"


rule volume_test_table5_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/table5.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/table5.png",
            caption="../report/experiments/volume_table5.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume_table5.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume_table5 --tables {input} --out {output} > {log} 2>&1"


rule volume_test_valsize_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/valsize.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/fig13_valsize.png",
            caption="../report/experiments/volume_valsize.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume_valsize.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume_valsize --tables {input} --out {output} > {log} 2>&1"


# --- sersic_test: He et al. section 4.3.3, Table 4 ---------------------------


rule sersic_test_tables:
    input:
        predictions=sersic_predictions(),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        nets=f"{EXP_DIR}/sersic_test/tables/nets.parquet",
        nets_csv=f"{EXP_DIR}/sersic_test/tables/nets.csv",
        table4=f"{EXP_DIR}/sersic_test/tables/table4.parquet",
        table4_csv=report(
            f"{EXP_DIR}/sersic_test/tables/table4.csv",
            caption="../report/experiments/sersic_test.rst",
            category="Experiments",
            subcategory="Sersic-index distribution (He et al. 2020, Table 4)",
        ),
    params:
        labels=sersic_labels(),
        threshold=EXP["sersic_test"]["threshold"],
        fiducial_threshold=EXP["net_comparison"]["s_net_threshold"],
        sample=EXP["sersic_test"]["sample"],
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/tables/sersic_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind sersic_test --predictions {input.predictions} "
        "--labels {params.labels} --stamp-index {input.indexes} {params.truth} "
        "--threshold {params.threshold} --fiducial-threshold {params.fiducial_threshold} "
        "--sample {params.sample} --out {output.nets} {output.table4} > {log} 2>&1"


rule sersic_test_figure:
    input:
        nets=f"{EXP_DIR}/sersic_test/tables/nets.parquet",
        table4=f"{EXP_DIR}/sersic_test/tables/table4.parquet",
    output:
        report(
            f"{EXP_DIR}/sersic_test/figures/table4.png",
            caption="../report/experiments/sersic_test.rst",
            category="Experiments",
            subcategory="Sersic-index distribution (He et al. 2020, Table 4)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/sersic_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind sersic_test --tables {input.nets} {input.table4} "
        "--out {output} > {log} 2>&1"


# --- entropy: He et al. section 2, eq. 2 ------------------------------------


rule entropy_images:
    input:
        exp_set_files("fiducial", "fits"),
        exp_set_files("fiducial", "parquet"),
    output:
        table=f"{EXP_DIR}/entropy/tables/entropy_step.parquet",
        csv=f"{EXP_DIR}/entropy/tables/entropy_step.csv",
    params:
        cubes=exp_set_files("fiducial", "fits"),
        max_images=entropy_max_images(),
    log:
        f"{EXP_DIR}/logs/entropy_images.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder entropy --shards {params.cubes} --max-images {params.max_images} --out {output.table} > {log} 2>&1"


rule entropy_table:
    input:
        f"{EXP_DIR}/entropy/tables/entropy_step.parquet",
    output:
        table=f"{EXP_DIR}/entropy/tables/entropy.parquet",
        csv=report(
            f"{EXP_DIR}/entropy/tables/entropy.csv",
            caption="../report/experiments/entropy.rst",
            category="Experiments",
            subcategory="Image entropy (He et al. 2020, section 2)",
        ),
    log:
        f"{EXP_DIR}/logs/tables/entropy.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind entropy --entropy {input} --out {output.table} > {log} 2>&1"


rule entropy_figure:
    input:
        f"{EXP_DIR}/entropy/tables/entropy.parquet",
    output:
        report(
            f"{EXP_DIR}/entropy/figures/entropy.png",
            caption="../report/experiments/entropy.rst",
            category="Experiments",
            subcategory="Image entropy (He et al. 2020, section 2)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/entropy.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind entropy --tables {input} --out {output} > {log} 2>&1"


# --- net_comparison: He et al. section 4.3.2, Table 3 ------------------------


rule net_comparison_tables:
    input:
        predictions=net_predictions(),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        table3=f"{EXP_DIR}/net_comparison/tables/table3.parquet",
        overlaps=f"{EXP_DIR}/net_comparison/tables/overlaps.parquet",
        table3_csv=report(
            f"{EXP_DIR}/net_comparison/tables/table3.csv",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
        overlaps_csv=report(
            f"{EXP_DIR}/net_comparison/tables/overlaps.csv",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
    params:
        labels=net_labels(),
        full=EXP["net_comparison"]["full_sample"],
        refined=EXP["net_comparison"]["refined_sample"],
        refined_mask=net_refined_option(),
        s_threshold=EXP["net_comparison"]["s_net_threshold"],
        r_threshold=EXP["net_comparison"]["r_net_threshold"],
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/tables/net_comparison.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind net_comparison --predictions {input.predictions} "
        "--labels {params.labels} --stamp-index {input.indexes} {params.truth} "
        "--sample {params.full} --refined-sample {params.refined} {params.refined_mask} "
        "--fiducial-threshold {params.s_threshold} --threshold {params.r_threshold} "
        "--out {output.table3} {output.overlaps} > {log} 2>&1"


rule net_comparison_figure:
    input:
        table3=f"{EXP_DIR}/net_comparison/tables/table3.parquet",
        overlaps=f"{EXP_DIR}/net_comparison/tables/overlaps.parquet",
    output:
        report(
            f"{EXP_DIR}/net_comparison/figures/table3.png",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/net_comparison.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind net_comparison --tables {input.table3} {input.overlaps} "
        "--out {output} > {log} 2>&1"
