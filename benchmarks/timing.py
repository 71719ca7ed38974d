"""What every benchmark script shares: the checkout on the import path, and timing one call.

A script run as `python benchmarks/x.py` has benchmarks/ on its path, so `import timing` works;
importing it puts the checkout there too, so the scripts run without installing the package.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def time_call(function, *args) -> tuple[float, object]:
    """Seconds one call takes, and its result."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result
