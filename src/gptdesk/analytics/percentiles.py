"""Response-time percentiles from the rollups' histogram (pure).

The buckets are migration 0022's: h00 counts answers up to 50 ms, h01 up to 100 ms, …,
h18 up to 120 s, h19 slower ones. A percentile is interpolated linearly inside its bucket,
so it is exact to the bucket's width (bounds at most 2 times apart at the ends, 1.25 to 1.5
times in the middle).
"""

from collections.abc import Sequence

UPPER_BOUNDS_MS = (
    50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000, 15000,
    20000, 30000, 60000, 120000,
)  # fmt: skip
BUCKETS = len(UPPER_BOUNDS_MS) + 1
COLUMNS = tuple(f"h{i:02d}" for i in range(BUCKETS))


def bucket_of(ms: int) -> int:
    """The bucket an answer of `ms` milliseconds is counted in (as analytics.response_bucket)."""
    for index, bound in enumerate(UPPER_BOUNDS_MS):
        if ms <= bound:
            return index
    return BUCKETS - 1


def percentile(counts: Sequence[int], fraction: float) -> float | None:
    """The `fraction` (0 to 1) percentile of the histogram `counts`, in ms; None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            low = 0 if index == 0 else UPPER_BOUNDS_MS[index - 1]
            high = UPPER_BOUNDS_MS[index] if index < len(UPPER_BOUNDS_MS) else low * 2
            return round(low + (high - low) * max(rank - seen, 0) / count, 1)
        seen += count
    return float(UPPER_BOUNDS_MS[-1] * 2)
