# The step modules import each other by plain name, as they do when the engine runs them.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
