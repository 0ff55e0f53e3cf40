"""`python -m cli`: the same as the `flightpath` console script."""

from cli.main import app

if __name__ == "__main__":
    app()
