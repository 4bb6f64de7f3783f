"""The steps import `flow_runtime` and the step scripts from python-steps/, as a step script does."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
