"""Jobs used by the tests (importable by a worker subprocess via PYTHONPATH)."""

from __future__ import annotations

import json
from pathlib import Path

from merchantry.core.context import current_request_id
from merchantry.core.jobs import job


@job()
def write_context(path: str) -> str:
    """Write the request id the job runs under to ``path``."""
    request_id = current_request_id() or ""
    Path(path).write_text(json.dumps({"request_id": request_id}))
    return request_id
