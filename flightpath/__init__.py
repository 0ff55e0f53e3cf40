"""flightpath's shared core: settings, lake layout, atomic writes, logging, processes, registry access.

It imports no stage package; every stage imports from here, and the command line (`cli/`) sits
above them all. The layers are import-linter contracts (pyproject.toml), run by `make lint`.
"""
