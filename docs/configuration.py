"""``docs/configuration.md``, written from the one declaration of every variable (``pipeline/variables.py``):
``python -m docs.configuration`` (``make docs``). A test fails when the page and the declaration differ."""

from __future__ import annotations

from pathlib import Path

from pipeline.variables import VARIABLES, Variable

PAGE = Path(__file__).with_name("configuration.md")

INTRO = """\
# Configuration

Every setting is an environment variable, read and checked when a run starts: a wrong value stops the run
before the first call to VOD, naming the variable and what to give. Against Alibaba Cloud three are needed,
`ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and the region of the account's videos
(`VOD_REGION`, or `VOD_REGIONS` for several); every other one has a default. Secrets (AccessKey secrets,
STS tokens, callback keys, the store's keys, webhook secrets) are read from the environment only and never
written to logs, Dagster's metadata, Parquet or DuckDB.

This page is generated from `pipeline/variables.py`, where each variable is declared once with its default
and meaning (`python -m docs.configuration` writes it; `tests/test_configuration_docs.py` keeps it current).
"""


def _default(variable: Variable) -> str:
    if variable.shown:
        return variable.shown
    if variable.default is None:
        return ""
    value = variable.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _meaning(variable: Variable) -> str:
    text = variable.meaning + (f" (read by {variable.read_by})" if variable.read_by else "")
    return text.replace("|", "\\|")


def render() -> str:
    """The page, topic by topic in the order of the declaration."""
    topics: dict[str, list[Variable]] = {}
    for variable in VARIABLES:
        topics.setdefault(variable.topic, []).append(variable)
    parts = [INTRO]
    for topic, variables in topics.items():
        rows = "".join(f"| `{v.name}` | {_meaning(v)} | {_default(v)} |\n" for v in variables)
        parts.append(f"## {topic}\n\n| variable | meaning | default |\n|---|---|---|\n{rows}")
    return "\n".join(parts)


def main() -> None:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"Wrote {PAGE}")


if __name__ == "__main__":
    main()
