"""Alibaba Cloud request signatures: the RPC HMAC-SHA1 form and ACS3-HMAC-SHA256 (signature V3).

Both sides use these functions: the VOD client to sign, the local VOD service to verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import quote

HMAC_SHA1 = "HMAC-SHA1"
ACS3_HMAC_SHA256 = "ACS3-HMAC-SHA256"
SIGNATURE_METHODS = (ACS3_HMAC_SHA256, HMAC_SHA1)

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba Cloud wants it: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name (byte order), percent-encoded, joined with '&'."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items(), key=lambda kv: kv[0].encode()))


# --- RPC style, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0 -------------------------------------------


def rpc_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """METHOD&%2F&enc(canonical query of every parameter but Signature)."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(unsigned))}"


def rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64(HMAC-SHA1(secret + '&', string to sign))."""
    digest = hmac.new(f"{secret}&".encode(), rpc_string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# --- Signature V3, ACS3-HMAC-SHA256 -------------------------------------------------------------------------


def acs3_canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str] | str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_sha256: str,
) -> str:
    """The V3 canonical request over the named headers (lower-case names, trimmed values); ``query`` is the
    parameters, or their ``canonical_query`` already made."""
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    names = sorted(h.lower() for h in signed_headers)
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            query if isinstance(query, str) else canonical_query(query),
            canonical_headers,
            ";".join(names),
            payload_sha256,
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_HMAC_SHA256}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def acs3_signature(canonical_request: str, secret: str) -> str:
    """hex(HMAC-SHA256(secret, string to sign)); the key has no trailing '&'."""
    return hmac.new(secret.encode(), acs3_string_to_sign(canonical_request).encode(), hashlib.sha256).hexdigest()


def acs3_authorization(access_key_id: str, signed_headers: list[str], signature: str) -> str:
    names = ";".join(sorted(h.lower() for h in signed_headers))
    return f"{ACS3_HMAC_SHA256} Credential={access_key_id},SignedHeaders={names},Signature={signature}"


def parse_acs3_authorization(value: str) -> tuple[str, list[str], str] | None:
    """(AccessKeyId, signed header names, signature) from an Authorization header, or None."""
    scheme, _, rest = value.partition(" ")
    if scheme != ACS3_HMAC_SHA256:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    try:
        return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError:
        return None
