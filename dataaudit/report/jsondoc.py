"""report.json: the Report as one strict, versioned JSON document."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..records import Report


def jsonable(x: Any) -> Any:
    """NaN -> null, +-inf -> "inf"/"-inf", numpy scalars -> Python, paths -> str, so the output is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return jsonable(x.item())
    if isinstance(x, Path):
        return str(x)
    return x


def to_json(report: Report) -> str:
    """The report as one JSON document (schema ``report.schema_version``)."""
    return json.dumps(jsonable(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
