"""`python -m serving`: the service with settings from the environment (FLIGHTPATH_*)."""

from serving.metrics_env import drop_foreign_multiproc_dir

if __name__ == "__main__":
    drop_foreign_multiproc_dir()  # before serving.server imports prometheus_client
    from serving.server import run

    run()
