"""A Celery deployment of the pipeline on this machine, from the real parts on loopback: Debian's
``redis-server`` as the broker, a PostgreSQL cluster of its own as the Dagster instance's database
(dagster-postgres, with deploy/celery/dagster.yaml), the instance migrated, and ``dagster-celery`` workers.
tests/test_celery.py and the Celery benchmark use it.

Every process started here is stopped when its context exits, whatever happened inside.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtual environment's bin: dagster-celery runs a bare `celery`
INSTANCE_YAML = REPO / "deploy" / "celery" / "dagster.yaml"
CELERY_APP = "dagster_celery.app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    ready: Callable[[], bool], what: str, process: subprocess.Popen | None = None, log: Path | None = None, timeout: float = 60
) -> None:
    """Polls ``ready`` until it holds; fails naming ``what``, with the end of its log, if the process ends first
    or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        ended = process is not None and process.poll() is not None
        if ended or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} {'exited' if ended else 'did not get ready in time'}:\n{tail}")
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting to be reaped do not count)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            return True
    return False


class Processes:
    """Processes started in groups of their own, each stopped with its whole group (the workers' Celery
    pool, the PostgreSQL backends); a batch started together is stopped together, after the batches
    started after it."""

    def __init__(self, stack: contextlib.ExitStack, logs: Path):
        self.stack, self.logs = stack, logs

    def start(
        self, name: str, command: list[str], *, env: Mapping[str, str] | None = None, stop: int = signal.SIGTERM
    ) -> tuple[subprocess.Popen, Path]:
        return self.start_batch({name: command}, env=env, stop=stop)[0]

    def start_batch(
        self, commands: Mapping[str, list[str]], *, env: Mapping[str, str] | None = None, stop: int = signal.SIGTERM
    ) -> list[tuple[subprocess.Popen, Path]]:
        started: list[tuple[subprocess.Popen, Path]] = []
        self.stack.callback(self._stop, started, stop)
        for name, command in commands.items():
            log = self.logs / f"{name}.log"
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    command,
                    env=dict(env) if env is not None else None,
                    cwd=REPO,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((process, log))
        return started

    @staticmethod
    def _stop(started: list[tuple[subprocess.Popen, Path]], stop: int, grace_s: float = 15) -> None:
        for process, _ in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, stop)
        deadline = time.monotonic() + grace_s
        for process, _ in started:
            while (process.poll() is None or _group_alive(process.pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def redis_server(processes: Processes, workdir: Path) -> str:
    """Debian's redis-server on a free loopback port, keeping nothing on disk; returns its address."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("No redis-server: install Debian's package (sudo apt-get install -y --no-install-recommends redis-server)")
    port = free_port()
    process, log = processes.start(
        "redis", [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    )
    wait_for(lambda: "Ready to accept connections" in log.read_text(errors="replace"), "redis-server", process, log)
    return f"redis://127.0.0.1:{port}"


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    db: str = "postgres"

    def env(self) -> dict[str, str]:
        """The variables deploy/celery/dagster.yaml reads its database from."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            "No PostgreSQL under /usr/lib/postgresql: install Debian's package (sudo apt-get install -y --no-install-recommends postgresql)"
        )
    return found[-1].parent


def postgres(processes: Processes, stack: contextlib.ExitStack) -> Postgres:
    """A PostgreSQL cluster of its own in a temporary folder, on a free loopback port, with a password.

    PostgreSQL refuses to run as root: as root, its programs run as Debian's ``postgres`` user, in a folder
    that user owns (outside pytest's temporary folders, which only root may enter).
    """
    bin_dir = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="vod-stickers-pg-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "Running as root and there is no 'postgres' user to run PostgreSQL as: install Debian's postgresql package"
            ) from None
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
    server = Postgres(port=free_port(), user="dagster", password=secrets.token_urlsafe(12))
    password_file = folder / "password"
    password_file.write_text(server.password + "\n")
    if as_user:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    initdb = subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            server.user,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
    password_file.unlink()
    process, log = processes.start(
        "postgres",
        [
            *as_user,
            str(bin_dir / "postgres"),
            "-D",
            str(folder / "data"),
            "-p",
            str(server.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            # A throwaway database: durability is not what is tested.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stop=signal.SIGINT,  # fast shutdown: connections left open do not hold it up
    )
    wait_for(lambda: "ready to accept connections" in log.read_text(errors="replace"), "postgres", process, log)
    return server


def instance_home(home: Path) -> Path:
    """A DAGSTER_HOME with the Celery deployment's instance file (deploy/celery/dagster.yaml)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    return home


def worker_yaml(path: Path, broker: str, backend: str) -> Path:
    """The workers' ``-y`` file: the same broker and backend as the executor's."""
    path.write_text(yaml.safe_dump({"execution": {"config": {"broker": broker, "backend": backend}}}))
    return path


def launch_day(env: Mapping[str, str], day: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The daily job for ``day`` through `dg launch`, as an operator starts it: `dg launch` is the run's own
    process, which, with ``PIPELINE_EXECUTOR=celery``, hands the steps to the workers and follows them."""
    return subprocess.run(
        [str(BIN / "dg"), "launch", "-m", "pipeline.definitions", "--job", "daily_snapshot", "--partition", day],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ready_line(log: Path) -> str:
    """The line a Celery worker logs once it takes tasks ("worker1@host ready."), or nothing yet."""
    return next((line for line in log.read_text(errors="replace").splitlines() if line.endswith(" ready.")), "")


@dataclass(frozen=True)
class Deployment:
    """A running deployment: the environment every process of it shares, and its workers' names."""

    env: dict[str, str]
    home: Path
    workers: tuple[str, ...]


@contextlib.contextmanager
def deployment(workdir: Path, env: Mapping[str, str], workers: int = 2) -> Iterator[Deployment]:
    """Redis, PostgreSQL, a migrated instance and ``workers`` workers of one task at a time each (as if each
    were a machine of one core), all sharing ``env`` plus their own settings; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        processes = Processes(stack, workdir)
        redis = redis_server(processes, workdir)
        database = postgres(processes, stack)
        home = instance_home(workdir / "dagster_home")
        shared = {
            **env,
            **database.env(),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(home),
            "PIPELINE_EXECUTOR": "celery",
            "CELERY_BROKER_URL": f"{redis}/0",
            "CELERY_RESULT_BACKEND": f"{redis}/1",
        }
        # Two workers starting on a brand-new instance would race to create its tables.
        migrate = subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=shared, cwd=REPO, capture_output=True, text=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"dagster instance migrate failed:\n{migrate.stdout}{migrate.stderr}")
        config = worker_yaml(workdir / "worker.yaml", shared["CELERY_BROKER_URL"], shared["CELERY_RESULT_BACKEND"])
        names = tuple(f"worker{i}" for i in range(1, workers + 1))
        started = processes.start_batch(
            {
                name: [
                    str(BIN / "dagster-celery"),
                    "worker",
                    "start",
                    "-A",
                    CELERY_APP,
                    "-y",
                    str(config),
                    "-n",
                    name,
                    "--",
                    "--concurrency=1",
                    "--without-mingle",
                    "--without-gossip",
                ]
                for name in names
            },
            env=shared,
        )
        for name, (process, log) in zip(names, started, strict=False):
            wait_for(lambda log=log, name=name: f"{name}@" in _ready_line(log), f"celery worker {name}", process, log)
        yield Deployment(env=shared, home=home, workers=names)
