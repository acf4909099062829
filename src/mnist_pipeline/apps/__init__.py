"""What users run by hand beside the pipeline: the `mnist-pipeline` command (report, predict,
serve, plots-template, push-runs). No stage imports this package, so a change here re-runs
no stage."""
