"""Creating, resolving and controlling jobs: the layer the CLI and Python API share."""
