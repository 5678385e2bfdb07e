"""Test doubles shared by the dashboard's scheduler tests (idle.py, writes.py)."""

from __future__ import annotations


class NextTickDoc:
    """A document whose next-tick callbacks run when the test says."""

    def __init__(self) -> None:
        self.callbacks = []

    def add_next_tick_callback(self, callback) -> None:
        self.callbacks.append(callback)

    def run(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()
