"""Fixtures for training tests (helpers live in training_frames.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from training_frames import synthetic_training_frame


@pytest.fixture(scope="session")
def training_frame() -> pd.DataFrame:
    """30 days x 300 flights (~9k rows; the test window holds ~1.2k labelled rows)."""
    return synthetic_training_frame()
