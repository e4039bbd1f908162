"""What every command shares: one flag per setting, reading them back, the usage exit status."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from typing import Any, NoReturn

from processor.config import (
    ECHO_MAX_CHARS,
    ENV_PREFIX,
    Settings,
    echoed,
    load_settings,
    unknown_variables,
)
from processor.logs import LogFormat
from processor.pipeline import PipelineLike, load_pipeline

EXIT_USAGE = 2
# Sends in flight before waiting for their acknowledgements (produce, dlq replay).
SEND_CHUNK = 1000


# A quoted value longer than this in an argparse error is cut (its "invalid choice" echoes it).
QUOTED = re.compile(rf"'([^']{{{ECHO_MAX_CHARS}}})[^']+'")


class Parser(argparse.ArgumentParser):
    """argparse, with long values cut when an error echoes them."""

    def error(self, message: str) -> NoReturn:
        super().error(QUOTED.sub(r"'\1…'", message))


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number, 0 or more, got {echoed(text)}")
    return value


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting; a flag given on the command line beats the environment."""
    group = parser.add_argument_group("settings (each also PROCESSOR_<NAME> in the environment)")
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else "unset"
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            metavar="VALUE",
            help=f"{field.description or ''} (default: {default})".strip(),
        )


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, by name."""
    return {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }


def settings_from(args: argparse.Namespace) -> tuple[Settings, PipelineLike]:
    """The settings, and the pipeline they name; a misspelt variable is a warning line."""
    settings = settings_only(args)
    for line in unknown_variables(os.environ):
        print(f"processor: warning: {line}", file=sys.stderr)
    return settings, pipeline_of(settings)


def settings_only(args: argparse.Namespace) -> Settings:
    return load_settings(**given_settings(args))


def pipeline_of(settings: Settings) -> PipelineLike:
    """The pipeline the settings name. The current directory is importable, as in
    ``python -m``: ``PROCESSOR_PIPELINE=myapp.orders:pipeline`` finds ``./myapp``."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return load_pipeline(settings.pipeline, settings)


def requested_format(args: argparse.Namespace) -> LogFormat:
    """The log format asked for by flag or environment, even when the settings are invalid."""
    given = getattr(args, "setting_log_format", None) or os.environ.get(ENV_PREFIX + "LOG_FORMAT")
    if given == "json":
        return "json"
    return "console" if given == "console" else "auto"
