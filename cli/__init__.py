"""The `flightpath` command line: the top layer, above every stage.

    flightpath --help            (the console script; `python -m cli` is the same)

Nothing imports this package: it imports the stages (inside each command, so `--help` stays
instant) and the shared core. The layers are import-linter contracts in pyproject.toml.
"""
