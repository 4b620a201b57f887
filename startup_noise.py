"""Keeps `python app.py` quiet while torch, torchao, transformers and diffusers import: their
warnings are shown only with --verbose (or TURBO_STUDIO_VERBOSE); errors always are.

app.py asks `verbose_requested` before it imports anything heavy (cli.py imports the pipeline,
which imports them all), so this module imports only the standard library until `quiet_libraries`,
and it reads TURBO_STUDIO_VERBOSE itself, before cli.py does. cli.py registers the same switch,
for --help, to check its value, and so that the rest of the command line parses.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Mapping, Sequence

VERBOSE_FLAG = "--verbose"
VERBOSE_ENV = "TURBO_STUDIO_VERBOSE"
VERBOSE_HELP = "also show the libraries' start-up warnings (torch, torchao, transformers, diffusers)"
TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")
NOISY_LIBRARIES = ("torch", "torchao", "transformers", "diffusers")


def boolean(text: str) -> bool:
    """`text` as an on/off setting: 1, true, yes or 0, false, no (any case)."""
    if text.lower() not in TRUE + FALSE:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in TRUE


def verbose_requested(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether `argv` (--verbose / --no-verbose, the last one wins) or else `environ` asks for the warnings.

    An unreadable TURBO_STUDIO_VERBOSE counts as verbose here; cli.py then stops with its error.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(VERBOSE_FLAG, action=argparse.BooleanOptionalAction, default=None)
    flag = parser.parse_known_args(argv)[0].verbose
    if flag is not None:
        return flag
    try:
        return boolean(environ.get(VERBOSE_ENV, "false"))
    except argparse.ArgumentTypeError:
        return True


def quiet_libraries() -> None:
    """Show only errors from the noisy libraries, set through their own switches before they print.

    torch resets its logger's level when it imports, so it is imported first; transformers and
    diffusers keep their own verbosity, and their Python warnings are filtered by module.
    """
    import torch  # noqa: F401  (its import sets the `torch` logger's level, which is then overridden)

    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    diffusers_logging.set_verbosity_error()
