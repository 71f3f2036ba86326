"""How the service writes its answers and errors: JSON or XML as the caller asked, and a gateway's HTML page."""

from __future__ import annotations

import json
import logging
from typing import Any
from xml.sax.saxutils import escape

from localvod.config import HOST_ID

log = logging.getLogger(__name__)


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


JSON_TYPE = "application/json;charset=utf-8"


XML_TYPE = "text/xml;charset=utf-8"


HTML_TYPE = "text/html"


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


BAD_GATEWAY_PAGE = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html>\n<head><title>502 Bad Gateway</title></head>\n'
    "<body>\n<h1>502 Bad Gateway</h1>\n<p>The proxy server received an invalid response from an upstream "
    "server.</p>\n<hr/>Powered by Tengine</body>\n</html>\n"
)


def xml_element(name: str, value: Any) -> str:
    if isinstance(value, list):  # VOD repeats the element once per item, with no wrapper
        return "".join(xml_element(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(xml_element(k, v) for k, v in value.items())
    else:
        inner = escape(str(value))
    return f"<{name}>{inner}</{name}>"


def render(doc: dict[str, Any], xml_root: str, fmt: str) -> tuple[bytes, str]:
    if fmt == "xml":
        return (XML_DECLARATION + xml_element(xml_root, doc)).encode(), XML_TYPE
    return json.dumps(doc, separators=(",", ":")).encode(), JSON_TYPE


def error_doc(request_id: str, code: str, message: str) -> dict[str, str]:
    return {
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=vod&requestId={request_id}",
    }
