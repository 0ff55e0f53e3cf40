"""The monitoring stage: data drift between the training window and a later window (`monitoring.drift`),
and the entry point the DAG and `flightpath monitor` call (`monitoring.run`).

Import the submodule you need; this package imports nothing heavy (Evidently loads inside the call).
"""
