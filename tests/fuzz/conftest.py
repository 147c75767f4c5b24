"""Lets the fuzz tests import ``targets`` (shared with the atheris runner)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
