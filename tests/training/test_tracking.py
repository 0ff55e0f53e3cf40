from __future__ import annotations

from training_frames import synthetic_training_frame

from features.contract import LABEL
from training.tracking import dataset_fingerprint


def test_dataset_fingerprint_changes_with_the_rows_and_only_with_them() -> None:
    frame = synthetic_training_frame(days=3, flights_per_day=50)
    same = synthetic_training_frame(days=3, flights_per_day=50)
    assert dataset_fingerprint(frame) == dataset_fingerprint(same)
    assert dataset_fingerprint(frame) == dataset_fingerprint(frame.assign(flight=frame["flight"] + 1))  # not an input
    flipped = frame.copy()
    flipped.loc[flipped.index[0], LABEL] = 1.0 - flipped[LABEL].iloc[0]
    assert dataset_fingerprint(flipped) != dataset_fingerprint(frame)
    assert dataset_fingerprint(frame.iloc[1:]) != dataset_fingerprint(frame)
