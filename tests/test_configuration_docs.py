"""docs/configuration.md is the one declaration of the settings (pipeline/variables.py), and the code reads
no variable the declaration does not hold, nor declares one nobody reads."""

import re
from pathlib import Path

import pytest

from docs import configuration
from pipeline import settings
from pipeline.errors import ConfigurationError
from pipeline.variables import BY_NAME, VARIABLES, declared

REPO = Path(__file__).resolve().parents[1]
# Prefixes only environment variables take in the package (VIDEO_ and ALERT_ name constants too).
ENVIRONMENT_NAME = re.compile(r"\b((?:VOD|ALIBABA_CLOUD|PIPELINE|AWS|OSS|SNAPSHOT|DAGSTER|CELERY|S3)_[A-Z0-9_]+)\b")


def package_sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in (REPO / "pipeline").rglob("*.py") if p.name != "variables.py"}


def test_the_configuration_page_is_what_the_declaration_gives_today():
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == configuration.render(), "docs/configuration.md is stale: run .venv/bin/python -m docs.configuration"


def test_every_variable_the_package_names_is_declared_and_every_declared_one_is_read():
    named = {m.group(1) for text in package_sources().values() for m in ENVIRONMENT_NAME.finditer(text)}
    assert sorted(named - set(BY_NAME)) == []
    sources = "\n".join(package_sources().values())
    unread = [v.name for v in VARIABLES if not v.read_by and f'"{v.name}"' not in sources and v.name not in named]
    assert unread == []


def test_a_variable_read_without_a_declaration_is_named_as_a_bug():
    with pytest.raises(KeyError, match="VOD_NO_SUCH_SETTING is read from the environment but not declared"):
        declared("VOD_NO_SUCH_SETTING")


def test_the_declared_defaults_are_the_settings_of_an_empty_environment():
    credentials = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
    vod = settings.vod_from_env(credentials)
    assert vod.calls_per_second == declared("VOD_CALLS_PER_SECOND").default
    assert vod.concurrency == declared("VOD_CONCURRENCY").default
    assert settings.source_from_env({}).full_walk_days == declared("VOD_FULL_WALK_DAYS").default
    policy = settings.refresh_from_env(vod, {})
    assert policy.every_days == declared("VOD_REFRESH_DAYS").default
    assert policy.budget == vod.calls_per_second * 3600 * float(declared("VOD_REFRESH_WINDOW_HOURS").default or 0)
    assert settings.executor_from_env({}) == declared("PIPELINE_EXECUTOR").default


def test_a_wrong_value_names_the_page_that_lists_the_settings():
    with pytest.raises(ConfigurationError, match=r"VOD_CONCURRENCY='many' is not .*docs/configuration.md"):
        settings.vod_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret", "VOD_CONCURRENCY": "many"})
