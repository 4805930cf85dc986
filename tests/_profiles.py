"""Comparing two profiles (``Profile.to_dict()`` trees) the way the partitioned profile is
promised to agree with the in-memory one: floats to 1e-9 relative (merged moments round
differently), everything else exactly."""

from __future__ import annotations

import math
from typing import Any


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [path]
    return [] if a == b else [path]
