"""Superset over the pipeline's warehouse with the "VOD stickers" dashboard (``make dashboards``).

Run with Superset's own environment (``.venv-superset/bin/python deploy/superset/start.py``): it sets up
Superset's metadata in ``<data>/superset/`` (SQLite), makes sure of the admin login, imports the
dashboard kept in ``deploy/superset/dashboard/`` (each dataset's SQL read from ``datasets/<name>.sql``,
the database pointed at ``<data>/warehouse.duckdb``; what an earlier start imported is replaced), then
serves Superset on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import warnings
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "dashboard"
DATASETS = HERE / "datasets"
DEMO_DATA_DIR = Path("demo/data")
ADMIN = "admin"
SLUG = "vod-stickers"


def dataset_sql(name: str, folder: Path = DATASETS) -> str:
    """A dataset's SQL as kept in ``datasets/<name>.sql`` (without a trailing semicolon: Superset wraps it)."""
    return (folder / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def bundle(warehouse: Path) -> dict[str, str]:
    """The dashboard's files in Superset's export format, by path, its database on ``warehouse``."""
    contents = {}
    for path in sorted(BUNDLE.rglob("*.yaml")):
        relative = path.relative_to(BUNDLE).as_posix()
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if relative == "metadata.yaml":
            doc.pop("type", None)  # so each kind of asset can be imported from the one bundle
        elif relative.startswith("databases/"):
            doc["sqlalchemy_uri"] = f"duckdb:///{warehouse}"
        elif relative.startswith("datasets/"):
            doc["sql"] = dataset_sql(doc["table_name"])
        contents[relative] = yaml.safe_dump(doc, sort_keys=False)
    return contents


def ensure_admin(password: str) -> None:
    """The ``admin`` user, with ``password`` (set in the process, so that it never shows in a command line)."""
    from superset import security_manager

    user = security_manager.find_user(username=ADMIN)
    if user is None:
        role = security_manager.find_role("Admin")
        if not security_manager.add_user(ADMIN, "VOD", "stickers", "admin@localhost", role, password=password):
            raise SystemExit(f"Superset could not create its {ADMIN} user: see the messages above")
    else:
        security_manager.reset_password(user.id, password)


def import_dashboard(contents: dict[str, str]) -> None:
    """Imports the bundle, replacing the database, datasets, charts and dashboard of earlier starts (a
    dashboard import alone keeps the charts and datasets it finds, so an edited file would not show)."""
    from flask import g
    from sqlalchemy.exc import SAWarning
    from superset import security_manager
    from superset.commands.chart.importers.v1 import ImportChartsCommand
    from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
    from superset.commands.database.importers.v1 import ImportDatabasesCommand
    from superset.commands.dataset.importers.v1 import ImportDatasetsCommand

    g.user = security_manager.find_user(username=ADMIN)
    with warnings.catch_warnings():  # SQLAlchemy's notes on Superset's own import code, of no use to the reader
        warnings.simplefilter("ignore", SAWarning)
        for command in (ImportDatabasesCommand, ImportDatasetsCommand, ImportChartsCommand, ImportDashboardsCommand):
            command(contents, overwrite=True).run()


def kept_secret(environ_name: str, path: Path) -> str:
    """The variable's value, or one generated once and kept in ``path`` (readable by this user only)."""
    value = os.environ.get(environ_name, "").strip()
    if value:
        return value
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def superset(home: Path, *args: str) -> None:
    """Runs a ``superset`` command of this environment; its output goes to ``home/setup.log``."""
    command = [str(Path(sys.executable).parent / "superset"), *args]
    with (home / "setup.log").open("a", encoding="utf-8") as log:
        log.write(f"$ superset {' '.join(args)}\n")
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ, check=False)
    if done.returncode != 0:
        raise SystemExit(f"superset {args[0]} failed (exit {done.returncode}): see {home / 'setup.log'}")


def set_up(home: Path) -> None:
    """Superset's metadata database in ``home``, created or brought up to date."""
    os.environ["SUPERSET_HOME"] = str(home)
    os.environ["SUPERSET_CONFIG_PATH"] = str(HERE / "superset_config.py")
    os.environ["SUPERSET_SECRET_KEY"] = kept_secret("SUPERSET_SECRET_KEY", home / "secret_key")
    (home / "setup.log").write_text("", encoding="utf-8")
    superset(home, "db", "upgrade")
    superset(home, "init")  # the roles and their permissions


def serve(warehouse: Path, host: str, port: int, password: str, password_from_env: bool) -> None:
    """Imports the dashboard, then serves Superset until interrupted, after printing where and how to log in."""
    from superset.app import create_app  # after set_up: it reads the configuration when imported
    from werkzeug.serving import make_server

    app = create_app()
    with app.app_context():
        ensure_admin(password)
        import_dashboard(bundle(warehouse))
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as error:
        raise SystemExit(
            f"Cannot serve on {host}:{port} ({error.strerror}): set SUPERSET_PORT to a free port, or 0 to let the system choose"
        ) from None
    url = f"http://{host}:{server.server_port}"
    shown = "(from SUPERSET_ADMIN_PASSWORD)" if password_from_env else password
    print(f"Superset: {url}/superset/dashboard/{SLUG}/", flush=True)
    print(f"Login: {ADMIN} / {shown}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("PIPELINE_DATA_DIR") or str(DEMO_DATA_DIR)
    parser.add_argument(
        "--data-dir", default=default, help=f"the pipeline's data directory (default: PIPELINE_DATA_DIR, else {DEMO_DATA_DIR})"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SUPERSET_PORT", "8088")),
        help="port to serve on; 0 lets the system choose (default: SUPERSET_PORT, else 8088)",
    )
    args = parser.parse_args(argv)
    if "://" in args.data_dir:
        raise SystemExit(
            f"The dashboard opens a local warehouse file; {args.data_dir} is on an object store. Run Superset where the "
            "data directory is local (the lake itself may stay on the store: see docs/analysts.md)"
        )
    warehouse = Path(args.data_dir).resolve() / "warehouse.duckdb"
    if not warehouse.exists():
        raise SystemExit(f"No warehouse at {warehouse}: run `make demo` first, or set PIPELINE_DATA_DIR to a data directory with one")
    home = warehouse.parent / "superset"  # Superset's metadata, secret key and generated password
    home.mkdir(exist_ok=True)
    password = kept_secret("SUPERSET_ADMIN_PASSWORD", home / "admin_password")
    print(f"Setting up Superset over {warehouse} (log: {home / 'setup.log'}) ...", flush=True)
    set_up(home)
    serve(warehouse, args.host, args.port, password, password_from_env=bool(os.environ.get("SUPERSET_ADMIN_PASSWORD", "").strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
