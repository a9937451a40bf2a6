# Stages 7-8: candidates above threshold -> inspection set -> grades ->
# ranked list by P = p_CNN x p_human (Li et al. 2020, section 3.3).


rule candidates:
    input:
        predictions=expand(P.predictions, net=NET, tile=TILES),
        indexes=expand(P.stamp_index, tile=TILES),
        cubes=expand(P.stamp_cube, tile=TILES),
        tiles=TILE_NAMES,
        catalog=P.catalog,
        sim_cubes=mix_sim_files("fits"),
        sim_meta=mix_sim_files("parquet"),
    output:
        candidates=P.candidates,
        known=P.known,
        manifest=P.manifest,
        manifest_csv=P.manifest_csv,
        png=directory(P.inspect_png),
        stamps=expand(P.inspect_band_stamps, band=BANDS),
        mosaic=report(P.mosaic, caption="../report/mosaic.rst", category="Candidates"),
    params:
        predictions=tile_pattern(P.predictions, net=NET),
        indexes=tile_pattern(P.stamp_index),
        cubes=tile_pattern(P.stamp_cube),
        thresholds=threshold_options(),
        mix=mix_options,
        n_mix=config["inspection"]["n_mix_simulated"],
        seed=config["seed"],
        outdir=output_dir,
    log:
        "results/logs/candidates.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder candidates --tiles-from {input.tiles} --predictions {params.predictions:q} "
        "--stamp-index {params.indexes:q} --stamp-cube {params.cubes:q} --catalog {input.catalog} {params.thresholds} "
        "{params.mix} --n-mix {params.n_mix} --seed {params.seed} --out-dir {params.outdir} > {log} 2>&1"


if SURVEY == "mock" and not config["inspection"]["grades"]:

    # Simulated inspectors: the only rule besides evaluation that reads the
    # mock survey's truth tables. Replace them by pointing
    # `inspection.grades` at your own grades file.
    rule mock_grades:
        localrule: True
        input:
            manifest=P.manifest,
            truth=truth_files(),
            known=P.known,
            positions=P.candidates,
        output:
            P.mock_grades,
        params:
            scheme=config["inspection"]["scheme"],
            n_inspectors=config["inspection"]["n_mock_inspectors"],
            seed=config["seed"],
        log:
            "results/logs/mock_grades.log",
        conda:
            "../../envs/inspect.yaml"
        shell:
            "lensfinder mock-grades --manifest {input.manifest} --truth {input.truth} {input.known} "
            "--positions {input.positions} "
            "--scheme {params.scheme} --n-inspectors {params.n_inspectors} --seed {params.seed} "
            "--out {output} > {log} 2>&1"


rule crossmatch:
    localrule: True
    input:
        P.candidates,
    output:
        P.crossmatch,
    log:
        "results/logs/crossmatch.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder crossmatch --candidates {input} --radius-arcsec 2 --out {output} > {log} 2>&1"


rule merge_scores:
    localrule: True
    input:
        predictions=P.candidates,
        grades=grades_file(),
        catalog=P.catalog,
        crossmatch=P.crossmatch,
        known=P.known,
        manifest=P.manifest,
        png=P.inspect_png,
        notes=notes_files(),
    output:
        ranked=P.ranked,
        csv=report(
            P.ranked_csv,
            caption="../report/ranked.rst",
            category="Candidates",
        ),
        tex=P.ranked_tex,
        fits=P.ranked_fits,
        ecsv=P.ranked_ecsv,
        vot=P.ranked_vot,
        summary=report(
            P.ranked_summary,
            caption="../report/summary.rst",
            category="Candidates",
        ),
        inspectors=report(
            P.ranked_inspectors,
            caption="../report/inspectors.rst",
            category="Candidates",
        ),
        agreement=P.ranked_agreement,
    params:
        scheme=config["inspection"]["scheme"],
        golden=config["ranking"]["golden"],
        high=config["ranking"]["high"],
        survey=SURVEY,
        notes=notes_option,
    log:
        "results/logs/merge_scores.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder merge-scores --predictions {input.predictions} --grades {input.grades} "
        "--scheme {params.scheme} --catalog {input.catalog} --crossmatch {input.crossmatch} "
        "--known {input.known} --manifest {input.manifest} {params.notes} --survey {params.survey} "
        "--golden {params.golden} --high {params.high} "
        "--out {output.ranked} --out-csv {output.csv} --out-tex {output.tex} "
        "--out-fits {output.fits} --out-ecsv {output.ecsv} --out-votable {output.vot} "
        "--out-summary {output.summary} "
        "--out-inspectors {output.inspectors} --out-agreement {output.agreement} > {log} 2>&1"
