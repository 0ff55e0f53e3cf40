"""flightpath's shared core: settings, lake layout, atomic writes, logging, the CLI.

It imports no stage package; every stage imports from here.
"""
