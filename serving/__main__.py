"""`python -m serving`: the service with settings from the environment (FLIGHTPATH_*)."""

from serving.server import run

if __name__ == "__main__":
    run()
