"""The data directory on an object store (``s3://bucket/prefix``): AWS S3, Alibaba OSS through its
S3-compatible endpoint, or any S3-compatible store (MinIO, SeaweedFS, Ceph).

A place in the data directory is a ``pathlib.Path`` on disk, or a ``upath.UPath`` over ``s3fs`` on a store:
both read, list and open the same way, so most of the package does not care which. What an object store
lacks (rename, append, fsync) is handled where files are written (``files``, ``raw``, ``lake``) with the
few operations here: a whole-object PUT, which readers see all or not at all; a PUT only if the object
is absent (``If-None-Match: *``) or unchanged (``If-Match`` on its ETag); and a multipart upload left
uncompleted, which any process can complete later (``PendingUpload``).
"""

from __future__ import annotations

import collections
import contextlib
import io
import ipaddress
import os
import posixpath
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import pyarrow.fs as pafs
from fsspec.asyn import sync
from typing_extensions import TypeIs
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
    token_variable: str | None = None  # the variable holding ``token``, which the DuckDB shell reads itself

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


def is_ip_or_local(host: str) -> bool:
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


def is_remote(path: Location) -> TypeIs[UPath]:
    """Whether ``path`` is on an object store: ``location`` makes a local place a ``pathlib.Path``."""
    return isinstance(path, UPath) and path.protocol in SCHEMES


def remote(path: Location | PendingUpload) -> UPath:
    """``path``, which the caller knows is on an object store (a local one here is a bug, named)."""
    if not isinstance(path, UPath) or not is_remote(path):
        raise TypeError(f"{path!r} is not on an object store")
    return path


def local(path: Location | PendingUpload) -> Path:
    """``path``, which the caller knows is on local disk (one on an object store here is a bug, named)."""
    if not isinstance(path, Path):
        raise TypeError(f"{path!r} is not on local disk")
    return path


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
    target.fs.put_file(str(source), target.path, chunksize=8 << 20)  # parts of 8 MiB, sent ten at once


def open_read(path: Location) -> Any:
    """``path`` opened to read through, front to back (binary). On a store, the object is fetched in
    ranges of 16 MiB, four at once ahead of the reader (one stream from a store is slower than four), each
    range asked of the version first seen (``If-Match``), so a file replaced meanwhile fails the read
    rather than mixing two versions."""
    if is_remote(path):
        return _AheadReader(path)
    return open(path, "rb")


class _AheadReader(io.RawIOBase):
    def __init__(self, path: UPath, block: int = 16 << 20, ahead: int = 4):
        self._fs, (self._bucket, self._key) = path.fs, path.path.split("/", 1)
        info = self._fs.info(path.path)
        self._size, self._etag, self._block = info["size"], info["ETag"], block
        self._pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="read-ahead")
        self._starts = iter(range(0, self._size, block))
        self._pending: collections.deque[Future[bytearray]] = collections.deque()
        self._chunk: bytes | bytearray = b""
        self._at = 0
        for _ in range(ahead):
            self._ask()

    def _ask(self) -> None:
        start = next(self._starts, None)
        if start is not None:
            self._pending.append(self._pool.submit(self._range, start, min(start + self._block, self._size) - 1))

    def _range(self, first: int, last: int) -> bytearray:
        async def get() -> bytearray:
            answer = await self._fs._call_s3(
                "get_object", Bucket=self._bucket, Key=self._key, Range=f"bytes={first}-{last}", IfMatch=self._etag
            )
            # Read a megabyte at a time into the range's own buffer: a whole read would hold the range twice
            data, filled = bytearray(last - first + 1), 0
            async with answer["Body"] as body:
                while piece := await body.read(1 << 20):
                    if filled + len(piece) > len(data):  # never grown past the range asked
                        raise OSError(f"{self._key}: the store sent more than the {len(data)} bytes asked from {first}")
                    data[filled : filled + len(piece)] = piece
                    filled += len(piece)
            if filled != len(data):
                raise OSError(f"{self._key}: the store sent {filled} of the {len(data)} bytes asked from {first}")
            return data

        return sync(self._fs.loop, get)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view, filled = memoryview(buffer).cast("B"), 0
        while filled < len(view):
            if self._at >= len(self._chunk):
                if not self._pending:
                    break
                self._chunk, self._at = self._pending.popleft().result(), 0
                self._ask()
            piece = min(len(view) - filled, len(self._chunk) - self._at)
            view[filled : filled + piece] = memoryview(self._chunk)[self._at : self._at + piece]
            filled, self._at = filled + piece, self._at + piece
        return filled

    def close(self) -> None:
        for pending in self._pending:
            pending.cancel()
        self._pool.shutdown(wait=True)
        super().close()


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


@dataclass(frozen=True)
class PendingUpload:
    """An object uploaded in parts under its final key but not completed: no reader sees it until it is
    completed, which any process can do with these fields (``complete``), or it is aborted."""

    key: str  # bucket/key
    upload_id: str
    parts: tuple[tuple[int, str], ...]  # (part number, ETag)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "upload_id": self.upload_id, "parts": [list(p) for p in self.parts]}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PendingUpload:
        return cls(value["key"], value["upload_id"], tuple((int(n), str(e)) for n, e in value["parts"]))


class GrowingUpload:
    """Uploads a local file that is still being appended to (a Parquet file as its row groups are written)
    as the parts of ``target``, each part sent as soon as the file has grown by ``part_size``; ``finish``
    sends the rest once the file is complete and returns the upload, not completed (``complete``)."""

    def __init__(self, source: Path, target: UPath, *, part_size: int = 8 << 20, at_once: int = 4):
        self.source, self.target, self.part_size, self.at_once = source, target, part_size, at_once
        self._bucket, self._key = target.path.split("/", 1)
        self._pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="upload")
        self._parts: list[Future[tuple[int, str]]] = []
        self._sent = 0
        self._id: str | None = None

    def grown(self) -> None:
        """Sends the whole parts the file holds beyond those sent (call after each append)."""
        size = self.source.stat().st_size
        while size - self._sent >= self.part_size:
            self._send(self._sent, self.part_size)

    def finish(self) -> PendingUpload:
        size = self.source.stat().st_size
        while size - self._sent > self.part_size:
            self._send(self._sent, self.part_size)
        if size > self._sent or not self._parts:
            self._send(self._sent, size - self._sent)
        try:
            parts = tuple(part.result() for part in self._parts)
        finally:
            self._pool.shutdown()
        return PendingUpload(self.target.path, self._upload_id(), parts)

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._id is not None:
            abort(self.target, PendingUpload(self.target.path, self._id, ()))

    def _upload_id(self) -> str:
        if self._id is None:
            self._id = self.target.fs.call_s3("create_multipart_upload", Bucket=self._bucket, Key=self._key)["UploadId"]
        return self._id

    def _send(self, start: int, length: int) -> None:
        number, upload_id = len(self._parts) + 1, self._upload_id()
        # At most ``at_once`` parts in memory: a writer faster than the store waits here, rather than
        # queueing parts the store has not taken yet
        while len(sending := [part for part in self._parts if not part.done()]) >= self.at_once:
            wait(sending, return_when=FIRST_COMPLETED)
        with open(self.source, "rb") as f:
            f.seek(start)
            data = f.read(length)
        self._sent = start + length

        def put() -> tuple[int, str]:
            answer = self.target.fs.call_s3(
                "upload_part", Bucket=self._bucket, Key=self._key, UploadId=upload_id, PartNumber=number, Body=data
            )
            return number, answer["ETag"]

        self._parts.append(self._pool.submit(put))


def complete(ref: UPath, pending: PendingUpload) -> bool:
    """Completes an upload: the object appears whole, replacing the old one. False if it was completed
    (or aborted) already."""
    bucket, key = pending.key.split("/", 1)
    parts = [{"PartNumber": n, "ETag": etag} for n, etag in pending.parts]
    try:
        ref.fs.call_s3("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=pending.upload_id, MultipartUpload={"Parts": parts})
    except Exception as exc:
        if error_code(exc) in ("NoSuchUpload", "404") or isinstance(exc, FileNotFoundError):
            return False
        raise
    return True


def abort(ref: UPath, pending: PendingUpload) -> None:
    """Drops an upload never completed: its parts go, the object stays as it was."""
    bucket, key = pending.key.split("/", 1)
    with contextlib.suppress(Exception):
        ref.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=pending.upload_id)


def abandoned_uploads(ref: UPath, prefix: str, before: float) -> list[PendingUpload]:
    """Uploads under ``prefix`` (``bucket/key-prefix``) begun before ``before`` (a Unix time) and never completed."""
    bucket, key_prefix = prefix.split("/", 1)
    answer = ref.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key_prefix)
    return [
        PendingUpload(f"{bucket}/{u['Key']}", u["UploadId"], ()) for u in answer.get("Uploads", []) if u["Initiated"].timestamp() < before
    ]


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
def listed(folder: UPath) -> Iterator[list[UPath]]:
    """Every object under ``folder``, from one listing, which also answers what is asked of those objects
    while the block runs (their size and date: no request each, for pyarrow's and DuckDB's opens). The
    listing is forgotten when the block ends, since other writers change the store."""
    fs = folder.fs
    found = fs.find(folder.path, detail=True)
    by_folder: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for key, info in found.items():
        by_folder[key.rsplit("/", 1)[0]].append(info)
    cache, kept = fs.dircache, fs.dircache.use_listings_cache
    cache.use_listings_cache = True  # only for the block (``location``: listings are never cached)
    cache.update(by_folder)
    try:
        yield [at(folder, key) for key in sorted(found)]
    finally:
        cache.use_listings_cache = kept
        cache.clear()


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
