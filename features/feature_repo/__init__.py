"""The Feast feature repo: declarations only (see definitions.py)."""
