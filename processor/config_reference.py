"""The settings reference, read from ``Settings`` itself: for ``--help`` and docs/configuration.md.

``python -m processor.config_reference`` writes the page; ``--check`` says whether the committed
page is what it would write (exit 1 if not).
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from processor.config import ENV_PREFIX, Settings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
REGENERATE = "python -m processor.config_reference"

# Headings of the page: each section starts at the named setting and runs to the next one.
SECTIONS = {
    "Where to read and write": "bootstrap_servers",
    "Backpressure and concurrency": "queue_max_records",
    "Delivery, commits, retries and shutdown": "guarantee",
    "The dead-letter flood guard": "dlq_max_ratio",
    "Kafka clients": "max_poll_interval_ms",
    "Security": "security_protocol",
    "Topics created by `processor topics ensure`": "topic_partitions",
    "Metrics, health and the summary line": "http_host",
    "`processor archive`": "archive_file_max_records",
    "Logging": "log_level",
}

INTRO = f"""\
# Configuration

<!-- Generated from processor/config.py by `{REGENERATE}`:
edit the settings' descriptions there, then run it again. -->

Every setting is an environment variable `PROCESSOR_<NAME>` and a flag `--<name>` of every
command that talks to the cluster (`run`, `topics ensure`, `produce`, `dlq`, `audit`,
`archive`); a flag beats the environment. `processor run --help` lists the same descriptions.

A bad value stops the command at once with one line naming the setting and exit status 2, e.g.
`processor: invalid setting PROCESSOR_CONCURRENCY: Input should be greater than or equal to 1
(got '0')`. Values are finite: `inf` and `nan` are refused. A `PROCESSOR_*` variable that is no
setting is not an error but a warning naming the closest setting (`PROCESSOR_WORKRES`: did you
mean `PROCESSOR_WORKERS/CONCURRENCY`?).

**Secrets.** Give `SASL_PASSWORD` and `SSL_PASSWORD` in the environment
(`PROCESSOR_SASL_PASSWORD`, from a Kubernetes Secret or an env file), not as flags: a process's
command line is readable by every user on the host (`ps`, `/proc/PID/cmdline`), its environment
only by its owner. A flag is visible there for as long as the process you started keeps its
command line: a single-process `processor run` for its whole life, a multi-process one until it
becomes the supervisor. The processor itself never puts a setting on a command line: the
supervisor and its processes get every setting through their environment.
"""


@dataclass(frozen=True, slots=True)
class SettingDoc:
    """One setting as a reader meets it."""

    name: str
    variable: str
    flag: str
    default: str
    allowed: str
    description: str


def setting_docs() -> list[SettingDoc]:
    """Every setting, in the order ``Settings`` declares them."""
    return [
        SettingDoc(
            name=name,
            variable=ENV_PREFIX + name.upper(),
            flag="--" + name.replace("_", "-"),
            default=default_text(field),
            allowed=allowed_values(field),
            description=field.description or "",
        )
        for name, field in Settings.model_fields.items()
    ]


def default_text(field: FieldInfo) -> str:
    return "unset" if field.default is None else str(field.default)


def allowed_values(field: FieldInfo) -> str:
    """What the type admits, in words: the literals, or the kind of value and its bounds."""
    kinds = [arg for arg in _alternatives(field.annotation) if arg is not type(None)]
    optional = len(kinds) < len(_alternatives(field.annotation))
    [kind] = kinds
    if get_origin(kind) is Literal:
        text = ", ".join(str(value) for value in get_args(kind))
    else:
        text = " ".join([_kind_name(kind), *_bounds(field.metadata)])
    return f"{text}, or unset" if optional else text


def _alternatives(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


KIND_NAMES: dict[Any, str] = {
    int: "integer",
    float: "number",
    str: "text",
    Path: "path",
    SecretStr: "secret text",
}


def _kind_name(kind: Any) -> str:
    return KIND_NAMES[kind]


def _bounds(metadata: Sequence[Any]) -> list[str]:
    shown = []
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            shown.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            shown.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            shown.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            shown.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 1:
            shown.append(f"of {item.min_length} characters or more")
        elif isinstance(item, annotated_types.MaxLen):
            shown.append(f"of at most {item.max_length} characters")
    return [", ".join(shown)] if shown else []


def flag_help(doc: SettingDoc) -> str:
    """The flag's line in ``--help`` (argparse formats it: a literal ``%`` is doubled)."""
    # "Allowed: text" says nothing the description does not.
    bare = doc.allowed.removesuffix(", or unset") in KIND_NAMES.values()
    allowed = "" if bare else f" Allowed: {doc.allowed}."
    text = f"{doc.description}{allowed} Default: {doc.default}."
    return text.replace("%", "%%")


def reference_page() -> str:
    """docs/configuration.md: the introduction, then a table per section."""
    docs = {doc.name: doc for doc in setting_docs()}
    names = list(docs)
    starts = [names.index(first) for first in SECTIONS.values()] + [len(names)]
    parts = [INTRO]
    for title, begin, end in zip(SECTIONS, starts, starts[1:], strict=False):
        parts.append(f"\n## {title}\n\n")
        parts.append("| setting | default | allowed | description |\n| --- | --- | --- | --- |\n")
        parts.extend(_row(docs[name]) for name in names[begin:end])
    return "".join(parts)


def _row(doc: SettingDoc) -> str:
    cells = [
        f"`{doc.variable}`<br>`{doc.flag}`",
        f"`{doc.default}`",
        _escaped(doc.allowed),
        _escaped(doc.description),
    ]
    return "| " + " | ".join(cells) + " |\n"


def _escaped(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=REGENERATE, description=f"Write {PAGE.name} from the settings' descriptions."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page = reference_page()
    if args.check:
        if PAGE.read_text() == page:
            return 0
        print(f"{PAGE} is stale: run {REGENERATE}", file=sys.stderr)
        return 1
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
