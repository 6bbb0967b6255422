"""A worker pod's fixed cost: `oma worker` loads neither the operator nor the async HTTP stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The operator proper; its pure builders are shared with `oma stack restore`.
HEAVY = ("kopf", "aiohttp", "uvloop", "fastapi", "oma.operator.runtime", "oma.operator.handlers")
PROBE = f"""
import sys
from oma.cli.main import _parser
_parser(["worker"]).parse_args(["worker"])
import oma.worker.incluster  # what `oma worker` runs after parsing
print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
"""

pytestmark = pytest.mark.unit


def test_the_worker_loads_neither_kopf_nor_aiohttp() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [], f"the worker imports {done.stdout.strip()}: import them lazily"
