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
from processor.config_reference import flag_help, setting_docs
from processor.logs import LogFormat, LogLevel, get_logger, is_level, uses_json
from processor.pipeline import PipelineLike, load_pipeline

EXIT_USAGE = 2
# Sends in flight before waiting for their acknowledgements (produce, dlq replay).
SEND_CHUNK = 1000


# A quoted value longer than this in an argparse error is cut (its "invalid choice" echoes it).
QUOTED = re.compile(rf"'([^']{{{ECHO_MAX_CHARS}}})[^']+'")


# argparse names the option it complains about as "argument --flag/-f: " (a positional by its
# metavar, which may hold a slash itself: "argument P/OFFSET: ").
ARGUMENT = re.compile(r"\bargument (-[^\s:/]+|[^\s:]+)(?:/-[^\s:]+)*: ")


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line naming the flag, long values cut."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"processor: error: {usage_error(message)}\n")


def usage_error(message: str) -> str:
    """argparse's error message as the one line shown: ``--flag: problem``."""
    return " ".join(ARGUMENT.sub(r"\1: ", QUOTED.sub(r"'\1…'", message)).split())


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
    for doc in setting_docs():
        group.add_argument(
            doc.flag, dest=f"setting_{doc.name}", metavar="VALUE", help=flag_help(doc)
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
    json_logs = uses_json(settings.log_format)
    for line in unknown_variables(os.environ):
        if json_logs:
            get_logger("processor.commands").warning("unknown_setting", problem=line)
        else:
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


def requested_level(args: argparse.Namespace) -> LogLevel:
    """The log level asked for by flag or environment; ``info`` when it is no level."""
    given = getattr(args, "setting_log_level", None) or os.environ.get(ENV_PREFIX + "LOG_LEVEL")
    return given if given is not None and is_level(given) else "info"


def requested_format(args: argparse.Namespace) -> LogFormat:
    """The log format asked for by flag or environment, even when the settings are invalid."""
    given = getattr(args, "setting_log_format", None) or os.environ.get(ENV_PREFIX + "LOG_FORMAT")
    if given == "json":
        return "json"
    return "console" if given == "console" else "auto"
