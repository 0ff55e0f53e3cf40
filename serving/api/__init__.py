"""HTTP layer: one thin router module per resource under routes/, shared dependencies in deps.py."""
