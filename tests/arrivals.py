"""Counting arrivals the way a platform's rate limit counts them."""

from __future__ import annotations


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any window of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
