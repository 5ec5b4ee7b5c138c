"""The services layer: above app/core, below the front ends (app/cli.py, app/ui, benchmarks/): a corpus
annotated on every core or a Ray cluster, reports. app/core never imports it."""
