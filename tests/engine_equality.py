"""The engine tests' notion of "the same answer" on two engines."""

from __future__ import annotations

import pandas as pd


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal columns and dtypes; floats to 1e-9 (relative), everything else exactly."""
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    floats = [c for c in want.columns if pd.api.types.is_float_dtype(want[c])]
    exact = [c for c in want.columns if c not in floats]
    pd.testing.assert_frame_equal(got[exact], want[exact], check_exact=True)
    pd.testing.assert_frame_equal(got[floats], want[floats], check_exact=False, rtol=1e-9)
