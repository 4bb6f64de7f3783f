"""The event channel: progress, metrics, artifacts, log lines and errors as JSON lines on a channel
of their own, never mixed into stdout (src/python/protocol.ts reads them; schema/step-events.schema.json
says what each may hold):
  FLOW_EVENTS_FD   an inherited pipe (direct launches), or
  FLOW_EVENTS_FILE a file the engine tails (launchers whose ranks lose fds).
Only the main process (rank 0) reports, so N ranks do not repeat every event; an error is reported by
whichever rank hits it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .ranks import is_main_process


class Events:
    def __init__(self) -> None:
        self._out = None
        if not is_main_process():
            return
        fd = os.environ.get("FLOW_EVENTS_FD")
        path = os.environ.get("FLOW_EVENTS_FILE")
        try:
            if fd:
                self._out = os.fdopen(int(fd), "w", buffering=1, closefd=False)
            elif path:
                self._out = open(path, "a", buffering=1, encoding="utf-8")
        except OSError:
            # No channel (e.g. a manual run): events are simply not reported.
            self._out = None

    def error(self, message: str, kind: str) -> None:
        """An error is reported by whichever rank hits it: under a launcher the first rank to fail
        may be the only one to say why, since the launcher stops the others, rank 0 included,
        before they get there. Ranks share the events file; each line is one append."""
        path = os.environ.get("FLOW_EVENTS_FILE")
        if self._out is None and path and not os.environ.get("FLOW_EVENTS_FD"):
            try:
                self._out = open(path, "a", buffering=1, encoding="utf-8")
            except OSError:
                pass
        self.emit("error", message=message, kind=kind)

    def emit(self, type_: str, **data: Any) -> None:
        if self._out is None:
            return
        data["type"] = type_
        data["time"] = time.time()
        try:
            self._out.write(json.dumps(data) + "\n")
        except (BrokenPipeError, ValueError):
            self._out = None

    def progress(self, current: int, total: int | None = None, unit: str = "step", **values: float) -> None:
        self.emit("progress", current=current, total=total, unit=unit,
                  values={k: v for k, v in values.items() if v is not None})

    def log_only(self, line: str) -> None:
        """A line for the step's log file (and the TUI's log view), not for the plain output."""
        self.emit("log", line=line)

    def metric(self, name: str, value: float) -> None:
        self.emit("metric", name=name, value=float(value))

    def artifact(self, name: str, path: str | Path) -> None:
        self.emit("artifact", name=name, path=str(path))


events = Events()


def log(msg: str) -> None:
    if is_main_process():
        print(msg, flush=True)
