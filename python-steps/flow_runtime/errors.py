"""The two ways a step fails on purpose, and the line that names a crash.

A UserError (bad input) and a CheckFailed (a result that failed its check) are each reported as one
line with no traceback (runtime.main); a crash is named by its exception's own line.
"""

from __future__ import annotations

import traceback


class UserError(Exception):
    """Bad input: printed as one line, no traceback, exit code 2."""


class CheckFailed(Exception):
    """The step ran but its result is wrong (a load check failed): one line, exit code 1."""


def exception_line(e: BaseException) -> str:
    """The last line of a traceback, `Type: message`, on one line (a message may span several)."""
    text = "".join(traceback.format_exception_only(type(e), e))
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
