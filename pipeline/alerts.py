"""Alerts to a chat webhook: DingTalk and Feishu (Lark) custom robots, signed when the robot has a secret,
and Slack-compatible incoming webhooks.

A message is plain text: which day, what failed, the first line of the error and a link to the Dagster UI.
Delivery is retried a few times when the webhook is down or busy; a message the webhook refuses is not.
Nothing here logs or raises the webhook's URL (its token lets anyone post) nor the robot's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from pipeline.errors import ConfigurationError, PipelineError

DINGTALK, FEISHU, SLACK = "dingtalk", "feishu", "slack"
KINDS = (DINGTALK, FEISHU, SLACK)

# Hosts whose kind needs no saying; any other host needs ALERT_WEBHOOK_KIND.
KIND_OF_HOST = {
    "oapi.dingtalk.com": DINGTALK,
    "open.feishu.cn": FEISHU,
    "open.larksuite.com": FEISHU,
    "hooks.slack.com": SLACK,
}
SIGNED_KINDS = (DINGTALK, FEISHU)

ATTEMPTS = 4
BACKOFF_S = 1.0  # waits 1, 2, then 4 s between attempts
TIMEOUT_S = 10.0


class AlertNotDelivered(PipelineError):
    """The webhook did not take the message: down after every attempt, or it refused it."""


@dataclass(frozen=True)
class Webhook:
    """Where alerts go. The URL and the secret never show in repr or in an error; ``host`` is safe to log."""

    url: str = field(repr=False)
    kind: str
    secret: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or "?"


def webhook(url: str, kind: str | None = None, secret: str | None = None) -> Webhook:
    """A checked Webhook; raises ConfigurationError naming the variable to fix (never quoting the URL)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "ALERT_WEBHOOK_URL is not a URL: give the robot's full webhook address, "
            "e.g. https://oapi.dingtalk.com/robot/send?access_token=..."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(f"ALERT_WEBHOOK_URL uses plain http to {parts.hostname}: use https")
    if kind is None:
        kind = KIND_OF_HOST.get(parts.hostname)
        if kind is None:
            raise ConfigurationError(
                f"ALERT_WEBHOOK_KIND is not set and {parts.hostname} is not a known robot host: set it to {', '.join(KINDS)}"
            )
    elif kind not in KINDS:
        raise ConfigurationError(f"ALERT_WEBHOOK_KIND={kind!r} is not a webhook kind: use one of {', '.join(KINDS)}")
    if secret and kind not in SIGNED_KINDS:
        raise ConfigurationError(f"ALERT_WEBHOOK_SECRET is set but {kind} webhooks are not signed: unset it")
    return Webhook(url, kind, secret or None)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Alert:
    """One event an operator must hear about."""

    title: str
    day: str | None
    what: str
    error: str
    link: str

    def text(self) -> str:
        lines = [f"[vod-stickers] {self.title}"]
        if self.day:
            lines.append(f"Day: {self.day}")
        lines += [f"What: {self.what}", f"Error: {self.error}", f"Dagster: {self.link}"]
        return "\n".join(lines)


def first_line(text: str | None) -> str:
    """The first line that says something, cut to 300 characters."""
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 300 else line[:299] + "…"
    return "(no error message)"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: HMAC-SHA256 keyed by the secret over "timestamp\\nsecret", base64."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's robot signature: HMAC-SHA256 keyed by "timestamp\\nsecret" over an empty message, base64."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request(hook: Webhook, text: str, now: float) -> tuple[str, dict]:
    """The URL to post to and the JSON body, signed for ``now`` (seconds since the epoch) when there is a secret."""
    if hook.kind == DINGTALK:
        url = hook.url
        if hook.secret:
            ms = int(now * 1000)
            query = urllib.parse.urlencode({"timestamp": ms, "sign": dingtalk_sign(hook.secret, ms)})
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + query
        return url, {"msgtype": "text", "text": {"content": text}}
    if hook.kind == FEISHU:
        body: dict = {"msg_type": "text", "content": {"text": text}}
        if hook.secret:
            body = {"timestamp": str(int(now)), "sign": feishu_sign(hook.secret, int(now)), **body}
        return hook.url, body
    return hook.url, {"text": text}


def _refusal(hook: Webhook, response: requests.Response) -> str | None:
    """Why the webhook refused the message, or None when it took it. DingTalk and Feishu answer 200 with an
    error code in the body."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    if hook.kind == SLACK:
        return None
    try:
        answer = response.json()
    except ValueError:
        return "an answer that is not JSON"
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0))) if isinstance(answer, dict) else 0
    if code:
        message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
        return f"error {code} {first_line(str(message))}"
    return None


def _retryable(response: requests.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def deliver(
    hook: Webhook,
    alert: Alert,
    *,
    attempts: int = ATTEMPTS,
    on_retry: Callable[[str], None] | None = None,
) -> int:
    """Posts the alert; returns the number of attempts it took. Retries a webhook that is down, times out or
    answers 429/5xx (signing anew each time), waiting longer each time (BACKOFF_S, doubled); raises
    AlertNotDelivered when every attempt failed or the webhook refused the message."""
    text, problem = alert.text(), "no attempt"
    with requests.Session() as http:
        for attempt in range(1, attempts + 1):
            url, body = request(hook, text, time.time())
            try:
                response = http.post(url, json=body, timeout=TIMEOUT_S)
            except requests.RequestException as exc:
                # The exception's text quotes the URL and its token: name the kind of failure only.
                problem = _network_problem(exc)
            else:
                refused = _refusal(hook, response)
                if refused is None:
                    return attempt
                problem = refused
                if not _retryable(response):
                    raise AlertNotDelivered(f"The {hook.kind} webhook at {hook.host} refused the alert: {problem}")
            if attempt < attempts:
                if on_retry:
                    on_retry(f"The {hook.kind} webhook at {hook.host} failed ({problem}); retrying, attempt {attempt + 1} of {attempts}")
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise AlertNotDelivered(f"The {hook.kind} webhook at {hook.host} did not take the alert after {attempts} attempts: {problem}")


def _network_problem(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer in {TIMEOUT_S:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return type(exc).__name__
