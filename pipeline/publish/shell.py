"""The analysts' DuckDB shell over the warehouse (``vod-stickers query``).

On disk it is the DuckDB CLI on the file, read-only. On an object store the file is fetched first, and the
views' ``s3://`` files are read through DuckDB's httpfs extension, loaded from its PyPI package
(``duckdb-extension-httpfs``, whose version must equal the CLI's), so nothing is downloaded from DuckDB's
extension site. The shell's start-up script names the variables holding the keys (``getenv``), never the
keys themselves.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import ConfigurationError
from pipeline.store import objects
from pipeline.store.layout import Layout
from pipeline.store.objects import StoreSettings

# Where `make` installs the extension's package, without the Python duckdb it asks for (requirements-shell.in)
EXTENSIONS = Path(sys.prefix) / "duckdb-extensions"


def httpfs_extension(folder: Path = EXTENSIONS) -> Path:
    """The installed httpfs extension file, checked against the CLI's version (DuckDB loads only its own)."""
    found = {d.metadata["Name"].replace("_", "-").lower(): d.version for d in importlib.metadata.distributions(path=[str(folder)])}
    extension = found.get("duckdb-extension-httpfs")
    if extension is None:
        raise ConfigurationError(f"DuckDB's httpfs extension is not installed in {folder}: run make demo or make test, which install it")
    cli = importlib.metadata.version("duckdb-cli")
    if extension != cli:
        raise ConfigurationError(
            f"duckdb-extension-httpfs {extension} does not match duckdb-cli {cli}: DuckDB loads only an extension of "
            "its own version; install the pinned requirements (make)"
        )
    path = folder / "duckdb_extension_httpfs" / "extensions" / f"v{extension}" / "httpfs.duckdb_extension"
    if not path.exists():
        raise ConfigurationError(f"duckdb-extension-httpfs {extension} has no extension file at {path}")
    return path


def startup_sql(store: StoreSettings) -> str:
    """The shell's start-up: httpfs loaded from its package, and a secret for the store whose keys DuckDB
    reads from the environment when the shell starts."""
    names = ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET") if store.oss else ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if not (store.key_id and store.secret):
        raise ConfigurationError(
            f"The DuckDB shell reads the store with the keys in {names[0]} and {names[1]}: set both "
            "(the shell cannot use other credential sources offline)"
        )
    parts = urlsplit(store.endpoint) if store.endpoint else None
    options = [f"KEY_ID getenv('{names[0]}')", f"SECRET getenv('{names[1]}')"]
    if store.token and store.token_variable:
        options.append(f"SESSION_TOKEN getenv('{store.token_variable}')")
    if parts is not None:
        options += [f"ENDPOINT '{parts.netloc}'", f"USE_SSL {str(parts.scheme == 'https').lower()}"]
    options.append(f"URL_STYLE '{'path' if store.addressing == 'path' else 'vhost'}'")
    if store.region:
        options.append(f"REGION '{store.region}'")
    literal = str(httpfs_extension()).replace("'", "''")
    return f"LOAD '{literal}';\nCREATE SECRET lake (TYPE s3, {', '.join(options)});\n"


@contextlib.contextmanager
def arguments(layout: Layout, store: StoreSettings | None) -> Iterator[list[str]]:
    """The DuckDB CLI's arguments to open the warehouse read-only, valid for the block (a fetched copy and
    the start-up script live in a temporary folder until it ends)."""
    if not layout.warehouse.exists():
        raise ConfigurationError(f"No warehouse at {layout.warehouse}: materialize the warehouse asset first")
    if not objects.is_remote(layout.warehouse):
        yield ["-readonly", str(layout.warehouse)]
        return
    with tempfile.TemporaryDirectory(prefix="vod-stickers-") as folder:
        startup = Path(folder) / "startup.sql"
        startup.write_text(startup_sql(store or StoreSettings()), encoding="utf-8")
        local = Path(folder) / "warehouse.duckdb"
        layout.warehouse.fs.get_file(layout.warehouse.path, str(local))
        yield ["-readonly", "-init", str(startup), str(local)]
