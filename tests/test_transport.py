"""Transport safety: TLS certificates are verified, plain http only for loopback, the local service
listens on loopback unless told otherwise."""

import http.server
import json
import socket
import ssl
import subprocess
import threading
from urllib.parse import urlsplit

import pytest

from localvod import LocalVodService, ServiceConfig
from pipeline.errors import ConfigurationError
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.errors import TlsRejected, VideoNotFound
from pipeline.vod.regions import resolve_endpoint
from tests.conftest import KEY_ID, KEY_SECRET


class _NotFound(http.server.BaseHTTPRequestHandler):
    """Answers every call as VOD does for an unknown video, so a call that gets through is visible."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"RequestId": "TLS-1", "Code": "InvalidVideo.NotFound", "Message": "not found"}).encode()
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def https_endpoint(tmp_path):
    """An HTTPS server on loopback whose certificate no public CA signed; yields (endpoint, its cert)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", cert
    server.shutdown()


@pytest.mark.server
def test_an_untrusted_certificate_stops_the_run_at_the_first_call(https_endpoint):
    endpoint, _ = https_endpoint
    with VodClient(Credentials(KEY_ID, KEY_SECRET), endpoint=endpoint) as client:
        with pytest.raises(TlsRejected, match="certificate verify failed") as refused:
            client.list_dynamic_image("v1")
    assert "REQUESTS_CA_BUNDLE" in str(refused.value)
    assert client.calls.value == 1  # fatal: not retried, and the fan-out stops


@pytest.mark.server
def test_a_certificate_signed_by_a_trusted_ca_is_accepted(https_endpoint, monkeypatch):
    endpoint, cert = https_endpoint
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with VodClient(Credentials(KEY_ID, KEY_SECRET), endpoint=endpoint) as client:
        with pytest.raises(VideoNotFound) as answered:
            client.list_dynamic_image("v1")
    assert answered.value.request_id == "TLS-1"  # the call went through TLS and was answered


@pytest.mark.parametrize("host", ["vod.example.com", "10.0.0.8", "[2001:db8::1]"])
def test_plain_http_is_refused_for_any_host_but_loopback_unless_allowed(host):
    with pytest.raises(ConfigurationError, match="plain http"):
        resolve_endpoint(endpoint=f"http://{host}:8080")
    assert resolve_endpoint(endpoint=f"http://{host}:8080", allow_http=True) == f"http://{host}:8080"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_is_accepted_for_loopback(host):
    assert resolve_endpoint(endpoint=f"http://{host}:18080") == f"http://{host}:18080"


@pytest.mark.server
def test_the_local_service_listens_on_loopback_only_by_default():
    service = LocalVodService(ServiceConfig()).start()
    try:
        address = urlsplit(service.endpoint)
        assert address.hostname == "127.0.0.1"
        port = address.port
        # Nothing answers on the same port at any address of this machine but loopback.
        for address in _non_loopback_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=1).close()
    finally:
        service.stop()


def _non_loopback_addresses() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if ":" not in a and not a.startswith("127.")]
