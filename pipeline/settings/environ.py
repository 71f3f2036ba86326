"""Reading the environment: every variable through its declaration (``pipeline.variables``), as text, one of
some choices or a number, its declared default when unset."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from pipeline import variables
from pipeline.errors import ConfigurationError

T = TypeVar("T")


def dagster_home(environ: Mapping[str, str] = os.environ) -> Path:
    """The Dagster instance's folder: DAGSTER_HOME, else dagster_home (relative to where the command runs)."""
    return Path(read(environ, "DAGSTER_HOME") or "dagster_home")


def read_named(environ: Mapping[str, str], name: str) -> str:
    """The value of a variable an accounts file names (its keys live in variables of the operator's choosing)."""
    return environ.get(name, "").strip()


def read(environ: Mapping[str, str], name: str) -> str:
    """The variable's value, stripped ("" when unset); ``name`` must be declared in ``pipeline.variables``."""
    return environ.get(variables.declared(name).name, "").strip()


def read_choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], meaning: str) -> str:
    """One of ``choices`` (any case; the first when unset)."""
    value = read(environ, name).lower() or str(variables.declared(name).default)
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(choices)}: {meaning}")
    return value


def read_number(environ: Mapping[str, str], name: str, parse: Callable[[str], T], meaning: str, valid: Callable[[T], bool]) -> T:
    """The variable as a number, its declared default when unset; ConfigurationError when it is not one."""
    value = read_optional_number(environ, name, parse, meaning, valid)
    if value is None:
        raise KeyError(f"{name} declares no default in pipeline/variables.py")
    return value


def read_optional_number(
    environ: Mapping[str, str], name: str, parse: Callable[[str], T], meaning: str, valid: Callable[[T], bool]
) -> T | None:
    """The variable as a number (None when unset and declared without a default)."""
    text = read(environ, name)
    if not text:
        default = variables.declared(name).default
        return None if default is None else parse(str(default))
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value) or value != value:  # value != value: NaN
        raise ConfigurationError(f"{name}={text!r} is not {meaning}: fix or unset it (docs/configuration.md lists the settings)")
    return value
