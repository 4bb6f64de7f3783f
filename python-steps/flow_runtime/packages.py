"""A Python package an option needs, and the one-line error that says which env has it."""

from __future__ import annotations

from .errors import UserError

# Packages of an env of their own (python-steps/requirements-<name>.txt), which flow builds for
# the option that needs it; every other one is in requirements.txt.
OWN_ENV_OF = {"vllm": "requirements-vllm.txt"}


def require_module(module: str, option: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    own = OWN_ENV_OF.get(module)
    if own:
        fix = (f"flow's managed env for it is built from python-steps/{own}; the interpreter given by "
               f"`python.interpreter` / FLOW_PYTHON lacks it (install that file in it)")
    else:
        fix = ("flow's managed env has it (python-steps/requirements.txt); the interpreter given by "
               "`python.interpreter` / FLOW_PYTHON lacks it")
    raise UserError(f"{option} needs the Python package '{module}', which is not installed: {fix}")
