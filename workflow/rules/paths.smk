# Every file the workflow reads or writes, named once (wildcards in braces), as P.<name>.
# Rules, target functions and the experiments use these names; logs and benchmarks are named in
# their own rule. Included by common.smk after the bands (PRESET, BANDS, REFERENCE_BAND).

from types import SimpleNamespace

RESULTS = "results"
P = SimpleNamespace(
    # survey (mock-survey, download-catalog, download-tile, download-legacy-field, merge-catalog)
    tile_image=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.fits",
    tile_weight=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.weight.fits",
    tile_mask=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.mask.fits",
    catalog_part=f"{RESULTS}/survey/catalog/{{tile}}.parquet",
    tile_list=f"{RESULTS}/survey/tiles.csv",
    # the tile names, one per line, that `lensfinder STEP --tiles-from` expands {tile} patterns over
    tile_names=f"{RESULTS}/survey/tile_names.txt",
    truth=f"{RESULTS}/survey/truth/{{tile}}.parquet",
    catalog=f"{RESULTS}/catalog/catalog.parquet",
    # preselection and stamps
    flags=f"{RESULTS}/preselect/flags.parquet",
    cutflow=f"{RESULTS}/preselect/cutflow.parquet",
    cutflow_csv=f"{RESULTS}/preselect/cutflow.csv",
    tile_flags=f"{RESULTS}/preselect/tiles/{{tile}}.parquet",
    tile_cutflow=f"{RESULTS}/preselect/tiles/{{tile}}.cutflow.parquet",
    tile_cutflow_csv=f"{RESULTS}/preselect/tiles/{{tile}}.cutflow.csv",
    stamp_cube=f"{RESULTS}/stamps/{{tile}}.fits",
    stamp_index=f"{RESULTS}/stamps/{{tile}}.parquet",
    # simulated sets
    sim_cube=f"{RESULTS}/sim/{{simset}}/shard_{{shard}}.fits",
    sim_meta=f"{RESULTS}/sim/{{simset}}/shard_{{shard}}.parquet",
    # networks, scores and their evaluation
    model=f"{RESULTS}/models/{{net}}.keras",
    model_settings=f"{RESULTS}/models/{{net}}.json",
    history=f"{RESULTS}/models/{{net}}.history.csv",
    checkpoints=f"{RESULTS}/models/{{net}}_checkpoints",
    # training.soup: the network as trained, and its copies fine-tuned on the soup's set (copy 1, 2, ...);
    # their weights averaged are `model` (train.smk)
    soup_trained=f"{RESULTS}/models/soup/{{net}}/trained.keras",
    soup_trained_settings=f"{RESULTS}/models/soup/{{net}}/trained.json",
    soup_finetuned=f"{RESULTS}/models/soup/{{net}}/finetuned_{{soup_copy}}.keras",
    soup_finetuned_settings=f"{RESULTS}/models/soup/{{net}}/finetuned_{{soup_copy}}.json",
    soup_history=f"{RESULTS}/models/soup/{{net}}/finetuned_{{soup_copy}}.history.csv",
    soup_checkpoints=f"{RESULTS}/models/soup/{{net}}/finetuned_{{soup_copy}}_checkpoints",
    # a trained network exported for other runs to start from (training.init_weights): export_network
    network=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.keras",
    network_settings=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.json",
    network_history=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.history.csv",
    predictions=f"{RESULTS}/predictions/{{net}}/{{tile}}.parquet",
    collected=f"{RESULTS}/predictions/{{net}}.parquet",
    # ensembles and calibration: each member's raw scores; predictions (net = NET)
    # holds their combined calibrated p_cnn (docs/learning.md)
    # every round scores about inference.tiles_per_job tiles per job (INFER_CHUNKS), the job
    # named by its first tile: one table, its shard column naming each row's tile
    member_chunk=f"{RESULTS}/predictions/members/{{net}}/chunks/{{chunk}}.parquet",
    calibration=f"{RESULTS}/models/calibration.json",
    calibration_summary=f"{RESULTS}/eval/calibration.parquet",
    calibration_csv=f"{RESULTS}/eval/calibration.csv",
    reliability=f"{RESULTS}/eval/reliability.parquet",
    reliability_csv=f"{RESULTS}/eval/reliability.csv",
    # retraining rounds: round k >= 1 mirrors the layout of round 0 under
    # results/rounds/{k}/ (round_path); its fine-tuning set, and all rounds' evaluation
    finetune_cube=f"{RESULTS}/rounds/{{round}}/train/shard_000.fits",
    finetune_table=f"{RESULTS}/rounds/{{round}}/train/shard_000.parquet",
    rounds=f"{RESULTS}/eval/rounds.parquet",
    rounds_csv=f"{RESULTS}/eval/rounds.csv",
    test_predictions=f"{RESULTS}/eval/{{net}}/test_{{shard}}.parquet",
    metrics=f"{RESULTS}/eval/{{net}}_metrics.parquet",
    metrics_csv=f"{RESULTS}/eval/{{net}}_metrics.csv",
    roc=f"{RESULTS}/eval/{{net}}_roc.parquet",
    completeness=f"{RESULTS}/eval/{{net}}_completeness.parquet",
    roc_csv=f"{RESULTS}/eval/{{net}}_roc.csv",
    completeness_csv=f"{RESULTS}/eval/{{net}}_completeness.csv",
    # inspection and the ranked list
    candidates=f"{RESULTS}/inspect/candidates.parquet",
    known=f"{RESULTS}/inspect/known.parquet",
    manifest=f"{RESULTS}/inspect/manifest.parquet",
    manifest_csv=f"{RESULTS}/inspect/manifest.csv",
    inspect_png=f"{RESULTS}/inspect/png",
    inspect_stamps=f"{RESULTS}/inspect/stamps_{REFERENCE_BAND}.fits",
    inspect_band_stamps=f"{RESULTS}/inspect/stamps_{{band}}.fits",
    mosaic=f"{RESULTS}/inspect/mosaic.png",
    mock_grades=f"{RESULTS}/inspect/grades.csv",
    crossmatch=f"{RESULTS}/candidates/crossmatch.parquet",
    ranked=f"{RESULTS}/candidates/ranked.parquet",
    ranked_csv=f"{RESULTS}/candidates/ranked.csv",
    ranked_tex=f"{RESULTS}/candidates/ranked.tex",
    ranked_fits=f"{RESULTS}/candidates/ranked.fits",
    ranked_ecsv=f"{RESULTS}/candidates/ranked.ecsv",
    ranked_vot=f"{RESULTS}/candidates/ranked.vot",
    ranked_summary=f"{RESULTS}/candidates/summary/index.html",
    ranked_inspectors=f"{RESULTS}/candidates/ranked.inspectors.csv",
    ranked_agreement=f"{RESULTS}/candidates/ranked.agreement.csv",
    figures=f"{RESULTS}/figures",
)


def figure(name):
    """A report figure's path."""
    return f"{P.figures}/{name}.png"


def sim_path(pattern, simset):
    """A simulated-set path pattern with its set filled in (the shard left as a wildcard)."""
    return pattern.replace("{simset}", simset)
