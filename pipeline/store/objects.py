"""The data directory on an object store (``s3://bucket/prefix``): AWS S3, Alibaba OSS through its
S3-compatible endpoint, or any S3-compatible store (MinIO, SeaweedFS, Ceph).

A place in the data directory is a ``pathlib.Path`` on disk, or a ``upath.UPath`` over ``s3fs`` on a store:
both read, list and open the same way, so most of the package does not care which. What an object store
lacks (rename, append, fsync) is handled where files are written (``files``, ``raw``, ``lake``) with the
few operations here: a whole-object PUT, which readers see all or not at all; a PUT only if the object
is absent (``If-None-Match: *``) or unchanged (``If-Match`` on its ETag); and server-side copy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import posixpath
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import pyarrow.fs as pafs
from fsspec.asyn import sync
from upath import UPath

from pipeline.errors import ConfigurationError

Location: TypeAlias = Path | UPath
"""A file or folder of the data directory: on disk, or on an object store."""

SCHEMES = ("s3",)

# Error codes of S3 (and OSS's S3 endpoint) that a conditional write answers when its condition fails.
_PRECONDITION = {"PreconditionFailed", "ConditionalRequestConflict", "FileAlreadyExists", "412", "409"}


@dataclass(frozen=True)
class StoreSettings:
    """How to reach the object store: the usual AWS variables, or Alibaba OSS's. Secrets never show in repr."""

    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    region: str | None = None
    addressing: str = "auto"  # virtual (OSS requires it), path, or auto (botocore's choice)
    oss: bool = False  # the settings came from OSS's variables

    def options(self) -> dict[str, Any]:
        """Storage options for s3fs (and so for UPath, pandas and Polars' fsspec route)."""
        config: dict[str, Any] = {"s3": {"addressing_style": self.addressing}}
        options: dict[str, Any] = {
            # Listings are never cached: another run, on another machine, may have changed the folder.
            # (The file system itself is: one client, and its connections, for every path of the store.)
            "use_listings_cache": False,
            "config_kwargs": config,
        }
        if self.key_id:
            options.update(key=self.key_id, secret=self.secret)
        if self.token:
            options["token"] = self.token
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
        if self.region:
            options["client_kwargs"] = {"region_name": self.region}
        return options


def store_from_env(environ: Mapping[str, str]) -> StoreSettings:
    """The object store's settings: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_REGION``; or OSS's ``OSS_ACCESS_KEY_ID``/
    ``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN``, ``OSS_ENDPOINT``, ``OSS_REGION``. ``S3_ADDRESSING_STYLE``
    (virtual, path, auto) overrides the addressing, except on OSS, which serves virtual-hosted only."""

    def get(*names: str) -> str | None:
        return next((environ[n].strip() for n in names if environ.get(n, "").strip()), None)

    oss = bool(get("OSS_ACCESS_KEY_ID", "OSS_ENDPOINT"))
    key_id = get("OSS_ACCESS_KEY_ID") if oss else get("AWS_ACCESS_KEY_ID")
    secret = get("OSS_ACCESS_KEY_SECRET") if oss else get("AWS_SECRET_ACCESS_KEY")
    prefix = "OSS" if oss else "AWS"
    if bool(key_id) != bool(secret):
        given, missing = (
            (f"{prefix}_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET" if oss else "AWS_SECRET_ACCESS_KEY")
            if key_id
            else ("OSS_ACCESS_KEY_SECRET" if oss else "AWS_SECRET_ACCESS_KEY", f"{prefix}_ACCESS_KEY_ID")
        )
        raise ConfigurationError(f"{given} is set but {missing} is not: set both, or neither to use the default credential chain")
    endpoint = get("OSS_ENDPOINT") if oss else get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            name = "OSS_ENDPOINT" if oss else "AWS_ENDPOINT_URL"
            raise ConfigurationError(f"{name}={endpoint!r} is not an http(s) address: give the store's endpoint, e.g. https://oss-cn-shanghai.aliyuncs.com")
    style = (get("S3_ADDRESSING_STYLE") or "").lower()
    if style and style not in ("virtual", "path", "auto"):
        raise ConfigurationError(f"S3_ADDRESSING_STYLE={style!r}: use virtual, path or auto")
    on_oss = oss or bool(endpoint and (urlsplit(endpoint).hostname or "").endswith(".aliyuncs.com"))
    if on_oss and style == "path":
        raise ConfigurationError("S3_ADDRESSING_STYLE=path: OSS serves virtual-hosted addresses only; unset it")
    if on_oss:
        style = "virtual"
    elif not style:
        style = "path" if endpoint and _is_ip_or_local(urlsplit(endpoint).hostname or "") else "auto"
    return StoreSettings(
        key_id=key_id,
        secret=secret,
        token=get("OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN") if oss else get("AWS_SESSION_TOKEN"),
        endpoint=endpoint,
        region=get("OSS_REGION") if oss else get("AWS_REGION", "AWS_DEFAULT_REGION"),
        addressing=style,
        oss=oss,
    )


def _is_ip_or_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_url(spec: str) -> bool:
    """Whether a data directory is given as an object store address rather than a folder."""
    return urlsplit(spec).scheme in SCHEMES


def location(spec: str, store: StoreSettings | None = None) -> Location:
    """The data directory ``spec`` (a folder, or ``s3://bucket/prefix``) as a place to read and write."""
    if not is_url(spec):
        return Path(spec).resolve()
    parts = urlsplit(spec)
    if not parts.netloc:
        raise ConfigurationError(f"PIPELINE_DATA_DIR={spec!r} names no bucket: use s3://bucket or s3://bucket/prefix")
    return UPath(f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/"), **(store or StoreSettings()).options())


def at(ref: UPath, path: str) -> UPath:
    """The object at ``path`` (``bucket/key``, ``..`` allowed) of ``ref``'s store, with its options."""
    return UPath(f"{ref.protocol}://{posixpath.normpath(path)}", **ref.storage_options)


def is_remote(path: Location) -> bool:
    return isinstance(path, UPath) and path.protocol in SCHEMES


def check(root: Location) -> None:
    """Stops with what to fix when the store cannot be reached, refuses the credentials, has no such
    bucket, or cannot be written under the prefix (a probe object is put and removed)."""
    if not is_remote(root):
        return
    bucket = root.path.split("/", 1)[0]
    probe = root / f".write-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        # A GET, not HEAD: a refusal then carries its code (SignatureDoesNotMatch, NoSuchBucket, ...)
        root.fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=root.path.partition("/")[2], MaxKeys=1)
        probe.write_bytes(b"")
        probe.unlink()
    except Exception as exc:  # noqa: BLE001 - every failure is turned into what to fix
        raise ConfigurationError(f"The data directory {root} (PIPELINE_DATA_DIR) cannot be used: {explain(exc)}") from None


def explain(exc: BaseException) -> str:
    """What an object store's refusal means for the operator (never the secret)."""
    code = error_code(exc)
    if code in ("NoSuchBucket", "404") or (code is None and isinstance(exc, FileNotFoundError)):
        return "the bucket does not exist: create it, or fix the bucket in PIPELINE_DATA_DIR"
    if code in ("InvalidAccessKeyId", "InvalidAccessKeyId.NotFound"):
        return f"the store does not know the access key ({code}): check AWS_ACCESS_KEY_ID (or OSS_ACCESS_KEY_ID)"
    if code in ("SignatureDoesNotMatch",):
        return "the store refused the signature (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY (or OSS_ACCESS_KEY_SECRET)"
    if code in ("AccessDenied", "403") or isinstance(exc, PermissionError):
        return f"access denied ({code or 'AccessDenied'}): the key needs read, write, list and delete on the bucket and prefix"
    if code in ("ExpiredToken", "InvalidToken", "SecurityTokenExpired"):
        return f"the session token was refused ({code}): renew AWS_SESSION_TOKEN (or OSS_SESSION_TOKEN)"
    if _is_connection_error(exc):
        return "the store's endpoint cannot be reached: check AWS_ENDPOINT_URL (or OSS_ENDPOINT) and the network"
    return f"{type(exc).__name__}: {code or exc}"


def error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an s3fs or botocore error, if any."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "") or None
    return None


def _is_connection_error(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(names & {"EndpointConnectionError", "ConnectionError", "ConnectTimeoutError", "ClientConnectorError"})


def _is_precondition(exc: BaseException) -> bool:
    if error_code(exc) in _PRECONDITION:
        return True
    return "pre-condition" in str(exc).lower() or "precondition" in str(exc).lower()


def upload(source: Path, target: UPath) -> None:
    """Puts a local file as one object: readers see the old object or the new one, never part of one."""
    target.fs.put_file(str(source), target.path)


def open_write(target: UPath) -> Any:
    """A file to write ``target`` through: sent in parts of 16 MiB as it is written (a multipart upload),
    the object appearing whole when the file is closed, never before (``discard`` drops it)."""
    return target.fs.open(target.path, "wb", block_size=16 << 20)


def discard(file: Any) -> None:
    """Drops a write begun by ``open_write``: the object never appears."""
    with contextlib.suppress(Exception):
        file.discard()


def open_read(path: Location) -> Any:
    """``path`` opened to read through (binary); on a store, the next 8 MiB are fetched in the background
    while the caller works on the last."""
    if is_remote(path):
        return path.fs.open(path.path, "rb", block_size=8 << 20, cache_type="background")
    return open(path, "rb")


def create(target: Location, data: bytes) -> str | None:
    """Writes ``target`` only if it does not exist: its ETag (on disk, ``""``), or None if it does exist
    (another writer got there first)."""
    if not is_remote(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            return None
        return ""
    return _put(target, data, IfNoneMatch="*")


def replace_if(target: UPath, data: bytes, etag: str) -> str | None:
    """Writes ``target`` only if it is still the version ``etag``: its new ETag, or None if it changed meanwhile."""
    return _put(target, data, IfMatch=etag)


def _put(target: UPath, data: bytes, **condition: str) -> str | None:
    bucket, key = target.path.split("/", 1)
    try:
        answer = target.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
    except Exception as exc:
        if _is_precondition(exc):
            return None
        raise
    return answer["ETag"]


def read_versioned(target: UPath) -> tuple[bytes, str] | None:
    """An object's content and its ETag, read in one GET; None if there is none."""
    bucket, key = target.path.split("/", 1)

    async def get() -> tuple[bytes, str] | None:
        try:
            answer = await target.fs._call_s3("get_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        async with answer["Body"] as body:
            return await body.read(), answer["ETag"]

    return sync(target.fs.loop, get)


def copy(source: UPath, target: UPath) -> bool:
    """Copies an object within the store (server side); False if the source is gone."""
    try:
        source.fs.copy(source.path, target.path)
    except FileNotFoundError:
        return False
    return True


def remove(target: Location) -> None:
    """Removes a file or object; nothing if it is not there."""
    if is_remote(target):
        with contextlib.suppress(FileNotFoundError):
            target.fs.rm_file(target.path)
    else:
        target.unlink(missing_ok=True)


def arrow(path: Location) -> tuple[str, pafs.FileSystem | None]:
    """``path`` as pyarrow wants it: the path string, and the file system to read it through."""
    if not is_remote(path):
        return str(path), None
    return path.path, pafs.PyFileSystem(pafs.FSSpecHandler(path.fs))


def url(path: Location) -> str:
    """The address a reader elsewhere uses: an absolute path on disk, ``s3://bucket/key`` on a store."""
    return f"s3://{path.path}" if is_remote(path) else str(Path(path).resolve())


@contextlib.contextmanager
def local_copy(path: Location) -> Iterator[Path]:
    """A local file with ``path``'s content for code that needs a real file (SQLite, DuckDB)."""
    if not is_remote(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="vod-stickers-") as folder:
        local = Path(folder) / path.name
        path.fs.get_file(path.path, str(local))
        yield local
