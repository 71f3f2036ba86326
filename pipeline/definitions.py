"""Everything Dagster loads: the definitions in pipeline/defs, run by the executor PIPELINE_EXECUTOR names."""

from pathlib import Path

import dagster as dg

from pipeline import settings
from pipeline.errors import ConfigurationError


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor_from_env()),
    )


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor of every job (PIPELINE_EXECUTOR, docs/deployment.md).

    In process by default: the steps are short next to the fetch, and a process per step would spend more
    time importing than working. The others spread the steps over processes, machines or pods; every step
    reads and writes the data directory, so no step hands anything over through a local disk. A wrong
    value never keeps the code from loading: the runs fail, naming it.
    """
    try:
        settings.accounts_from_env()  # a file the partitions could not be read from fails every run, naming it
        name = settings.executor_from_env()
        if name == "multiprocess":
            return dg.multiprocess_executor
        if name == "celery":
            try:
                from dagster_celery import celery_executor
            except ImportError:
                raise ConfigurationError(
                    "PIPELINE_EXECUTOR=celery needs dagster-celery and dagster-postgres, which are not installed: "
                    "install the celery extra (pip install -r requirements-celery.txt)"
                ) from None

            # Celery's own variables, read by the run's process and by every worker loading this code.
            return celery_executor.configured(
                {"broker": {"env": "CELERY_BROKER_URL"}, "backend": {"env": "CELERY_RESULT_BACKEND"}}, name="celery"
            )
        if name == "k8s":
            try:
                from dagster_k8s import k8s_job_executor
            except ImportError:
                raise ConfigurationError(
                    "PIPELINE_EXECUTOR=k8s needs dagster-k8s, which is not installed: install the k8s extra "
                    "(pip install -r requirements-k8s.txt, as deploy/Dockerfile does)"
                ) from None
            return k8s_job_executor
        return dg.in_process_executor
    except ConfigurationError as err:
        return refusing_executor(str(err))


def refusing_executor(reason: str) -> dg.ExecutorDefinition:
    """An executor that fails every run with ``reason`` before any step starts."""

    @dg.executor(name="misconfigured")
    def misconfigured(_context: dg.InitExecutorContext) -> dg.Executor:
        raise ConfigurationError(reason)

    return misconfigured
