"""Operators are told: a failed run, a failed blocking check and a late day each post exactly one message to
a local webhook receiver that checks the robot's signature as DingTalk and Feishu do; the sensors run
through Dagster's own sensor evaluation on a real instance, tick after tick."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from pipeline import alerts
from tests.conftest import REPO, TODAY, write_videos

pytestmark = pytest.mark.server

DAY = TODAY.isoformat()
ROBOT_SECRET = "SEC-robot-secret-Hq71Nd4Kz"
DG = str(Path(sys.executable).parent / "dg")
TOKEN = "tok-robot-access-Wm38Vb"
VOD_SECRET = "wrong-vod-secret-Tz55"


@dataclass
class Receiver:
    """A chat robot on loopback: checks each post's signature as the real service does and answers with
    the statuses it is told (then 200)."""

    kind: str
    secret: str | None
    statuses: list[int] = field(default_factory=list)
    posts: list[dict] = field(default_factory=list)  # every post: its text, whether it was signed right
    accepted: list[str] = field(default_factory=list)  # texts answered as delivered

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                status, answer = receiver.answer(query, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot/send?access_token={TOKEN}"

    def answer(self, query: dict, body: dict) -> tuple[int, dict]:
        signed = self.signature_ok(query, body)
        text = (
            body.get("text")
            if self.kind == "slack"
            else (body.get("text") or body.get("content"))["text" if self.kind == "feishu" else "content"]
        )
        self.posts.append({"text": text, "signed": signed, "raw": json.dumps(body), "query": query})
        if self.statuses:
            return self.statuses.pop(0), {"errcode": 1, "errmsg": "busy"}
        if not signed:  # DingTalk and Feishu answer 200 with an error code
            return 200, {"errcode": 310000, "errmsg": "sign not match"} if self.kind == "dingtalk" else {
                "code": 19021,
                "msg": "sign match fail",
            }
        self.accepted.append(text)
        return 200, {"errcode": 0, "errmsg": "ok"} if self.kind == "dingtalk" else {"code": 0, "msg": "success"}

    def signature_ok(self, query: dict, body: dict) -> bool:
        """DingTalk: timestamp (ms) and sign in the query, HMAC-SHA256 keyed by the secret over
        "timestamp\\nsecret"; Feishu: timestamp (s) and sign in the body, HMAC-SHA256 keyed by
        "timestamp\\nsecret" over nothing. Both base64, both within an hour of now."""
        if self.secret is None:
            return "sign" not in query and "sign" not in body
        if self.kind == "dingtalk":
            stamp, sign = query["timestamp"][0], query["sign"][0]
            expected = hmac.new(self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256).digest()
            now = time.time() * 1000
            window = 3600 * 1000
        else:
            stamp, sign = body["timestamp"], body["sign"]
            expected = hmac.new(f"{stamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
            now, window = time.time(), 3600
        return abs(now - int(stamp)) < window and hmac.compare_digest(base64.b64decode(sign), expected)

    def stop(self):
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver():
    started = []

    def start(kind: str, secret: str | None = ROBOT_SECRET, statuses: list[int] | None = None) -> Receiver:
        started.append(Receiver(kind, secret, statuses or []))
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def alert_env(monkeypatch):
    def apply(r: Receiver, **extra: str) -> None:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", r.url)
        monkeypatch.setenv("ALERT_WEBHOOK_KIND", r.kind)
        if r.secret:
            monkeypatch.setenv("ALERT_WEBHOOK_SECRET", r.secret)
        else:
            monkeypatch.delenv("ALERT_WEBHOOK_SECRET", raising=False)
        monkeypatch.setenv("DAGSTER_UI_URL", "http://dagster.internal:3000")
        for name, value in extra.items():
            monkeypatch.setenv(name, value)

    return apply


def load_defs() -> dg.Definitions:
    from pipeline.definitions import defs

    return defs()


class Ticks:
    """A sensor ticking on an instance through Dagster's own evaluation, its cursor kept from tick to tick."""

    def __init__(self, instance: dg.DagsterInstance, name: str):
        self.defs = load_defs()
        self.sensor = self.defs.resolve_sensor_def(name)
        self.instance, self.cursor = instance, None

    def tick(self):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor if result.cursor is not None else self.cursor
        return result


def run_day(instance, assets=None, raise_on_error=False):
    job = load_defs().resolve_job_def("daily_snapshot")
    return job.execute_in_process(
        partition_key=DAY,
        instance=instance,
        raise_on_error=raise_on_error,
        asset_selection=[dg.AssetKey(a) for a in assets] if assets else None,
    )


def no_secret_in(r: Receiver, *more: str) -> None:
    """Neither the robot's secret, nor the webhook's token, nor VOD's secret is in what was posted or logged."""
    seen = " ".join([p["raw"] for p in r.posts] + list(more))
    for secret in (ROBOT_SECRET, TOKEN, VOD_SECRET):
        assert secret not in seen


def test_a_failed_run_posts_one_signed_dingtalk_message(env, vod_service, instance, receiver, alert_env, caplog):
    robot = receiver("dingtalk")
    service = vod_service(catalog_size=40, calls_per_second=None)
    layout = env(service, ALIBABA_CLOUD_ACCESS_KEY_SECRET=VOD_SECRET)
    write_videos(service, layout.videos_csv)
    alert_env(robot)
    ticks = Ticks(instance, "alert_on_failure")
    ticks.tick()  # the sensor starts: from now on
    result = run_day(instance)
    assert not result.success

    ticks.tick()
    ticks.tick()  # a later tick sends nothing more
    assert len(robot.posts) == 1 and robot.posts[0]["signed"]
    text = robot.accepted[0]
    assert f"Snapshot day {DAY} failed" in text
    assert "step sticker_responses of run of daily_snapshot" in text
    assert "Error: VOD (cn-shanghai) refused the call with SignatureDoesNotMatch: the AccessKey secret is wrong" in text
    assert f"Dagster: http://dagster.internal:3000/runs/{result.run_id}" in text
    no_secret_in(robot, caplog.text)


def test_a_failed_blocking_check_posts_one_signed_feishu_message(env, vod_service, instance, receiver, alert_env, caplog):
    robot = receiver("feishu")
    service = vod_service(catalog_size=20, calls_per_second=None)
    layout = env(service)
    write_videos(service, layout.videos_csv)
    alert_env(robot)
    assert run_day(instance, assets=["videos", "sticker_responses"]).success
    summary_path = layout.fetch_summary(dt.date.fromisoformat(DAY))
    summary = json.loads(summary_path.read_text())
    summary["stickers"] += 3  # VOD said it returned more items than reached the lake
    summary_path.write_text(json.dumps(summary))

    ticks = Ticks(instance, "alert_on_failure")
    ticks.tick()
    result = run_day(instance, assets=["stickers", "warehouse"])
    assert not result.success and not layout.warehouse.exists()
    ticks.tick()
    ticks.tick()

    assert len(robot.posts) == 1 and robot.posts[0]["signed"]  # one message, though the run failed too
    text = robot.accepted[0]
    assert f"Snapshot day {DAY} not published: a blocking check failed" in text
    assert "check fetch_reconciles on stickers failed" in text
    error = next(line for line in text.splitlines() if line.startswith("Error: "))
    failed = next(c for c in result.get_asset_check_evaluations() if not c.passed)
    assert error == f"Error: {failed.description.splitlines()[0]}"
    assert f"/runs/{result.run_id}" in text
    no_secret_in(robot, caplog.text)


def due_day(deadline_hour: int) -> str:
    now = dt.datetime.now(dt.UTC)
    return (now.date() - dt.timedelta(days=now.hour < deadline_hour)).isoformat()


def materialize_day(instance, day: str, *assets: str) -> None:
    for name in assets:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=name, partition=day))


def test_a_late_day_posts_one_signed_message_and_a_day_on_time_none(env, vod_service, instance, receiver, alert_env, caplog):
    robot = receiver("dingtalk")
    env(vod_service(catalog_size=1))  # and no videos.csv: the day's run fails at its first step
    alert_env(robot, SNAPSHOT_DEADLINE_HOUR="7")
    day = due_day(7)  # the newest day whose 07:00 UTC has passed
    ticks = Ticks(instance, "alert_on_late_day")
    failed = (
        load_defs()
        .resolve_job_def("daily_snapshot")
        .execute_in_process(partition_key=day, instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("videos")])
    )
    materialize_day(instance, day, "stickers")  # stickers made it, the warehouse did not

    first = ticks.tick()
    ticks.tick()
    ticks.tick()
    assert len(robot.posts) == 1 and robot.posts[0]["signed"]
    text = robot.accepted[0]
    assert f"Snapshot day {day} is late" in text
    assert f"What: warehouse for {day} not materialized by 07:00 UTC" in text
    assert "Error: the day's latest run failed" in text
    assert f"Dagster: http://dagster.internal:3000/runs/{failed.run_id}" in text
    assert "Alert sent to the dingtalk webhook at 127.0.0.1" in first.skip_message
    no_secret_in(robot, caplog.text, first.skip_message)

    on_time = Ticks(instance, "alert_on_late_day")
    materialize_day(instance, day, "warehouse")
    assert "on time" in on_time.tick().skip_message
    assert len(robot.posts) == 1


def test_a_webhook_answering_500_then_200_gets_the_message_once(receiver, alert_env, instance):
    robot = receiver("feishu", statuses=[500])
    alert_env(robot, SNAPSHOT_DEADLINE_HOUR="1")
    Ticks(instance, "alert_on_late_day").tick()
    assert [p["signed"] for p in robot.posts] == [True, True]  # signed anew for the second attempt
    assert len(robot.accepted) == 1


def test_a_webhook_that_stays_down_is_logged_and_never_fails_the_tick(receiver, alert_env, instance, monkeypatch, caplog):
    robot = receiver("slack", secret=None, statuses=[503] * 10)
    alert_env(robot, SNAPSHOT_DEADLINE_HOUR="1")
    monkeypatch.setattr(alerts, "BACKOFF_S", 0.01)
    ticks = Ticks(instance, "alert_on_late_day")
    result = ticks.tick()
    assert len(robot.posts) == alerts.ATTEMPTS and robot.accepted == []
    assert "Alert not delivered: The slack webhook at 127.0.0.1 did not take the alert after 4 attempts: HTTP 503" in result.skip_message
    assert ticks.tick().skip_message.endswith("was already reported late")  # one alert per day, delivered or not
    no_secret_in(robot, caplog.text, result.skip_message)


def test_a_webhook_that_refuses_the_signature_is_not_retried(receiver):
    robot = receiver("dingtalk", secret="SEC-the-robots-own")
    hook = alerts.webhook(robot.url, "dingtalk", ROBOT_SECRET)
    with pytest.raises(alerts.AlertNotDelivered, match="refused the alert: error 310000 sign not match") as refused:
        alerts.deliver(hook, alerts.Alert("t", None, "w", "e", "l"))
    assert len(robot.posts) == 1 and TOKEN not in str(refused.value)


def test_a_webhook_nobody_answers_is_named_by_its_host_alone(receiver, monkeypatch):
    robot = receiver("dingtalk")
    robot.stop()  # nothing listens on its port any more
    monkeypatch.setattr(alerts, "BACKOFF_S", 0.01)
    retries: list[str] = []
    with pytest.raises(alerts.AlertNotDelivered) as down:
        alerts.deliver(alerts.webhook(robot.url, "dingtalk", ROBOT_SECRET), alerts.Alert("t", None, "w", "e", "l"), on_retry=retries.append)
    assert str(down.value) == "The dingtalk webhook at 127.0.0.1 did not take the alert after 4 attempts: could not connect"
    assert len(retries) == 3 and not any(TOKEN in line or ROBOT_SECRET in line for line in retries)


def test_alert_test_posts_a_slack_message_and_a_bad_kind_stops_in_one_line(receiver):
    robot = receiver("slack", secret=None)
    env = {"ALERT_WEBHOOK_URL": robot.url, "ALERT_WEBHOOK_KIND": "slack", "PATH": "/usr/bin:/bin"}
    sent = subprocess.run([sys.executable, "-m", "pipeline.cli", "alert-test"], env=env, capture_output=True, text=True, cwd=REPO)
    assert sent.returncode == 0, sent.stderr
    assert robot.accepted and robot.accepted[0].startswith("[vod-stickers] Test message")
    assert "Delivered (1 attempt)." in sent.stdout and TOKEN not in sent.stdout + sent.stderr

    wrong = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "alert-test"],
        env={**env, "ALERT_WEBHOOK_KIND": "teams"},
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "vod-stickers: ALERT_WEBHOOK_KIND='teams' is not a webhook kind: use one of dingtalk, feishu, slack"
    ]
    assert len(robot.posts) == 1


POLICIES = """
import dagster as dg
from pipeline.definitions import defs
d = defs()
for name in ("stickers", "warehouse"):
    p = d.resolve_assets_def(name).specs_by_key[dg.AssetKey(name)].freshness_policy
    print(name, p.deadline_cron, p.lower_bound_delta, p.timezone)
"""


def test_stickers_and_warehouse_are_due_by_the_configured_hour_which_the_daemon_checks(instance, receiver, alert_env):
    # The code location reads SNAPSHOT_DEADLINE_HOUR when it loads, as the UI and the daemon load it.
    loaded = subprocess.run(
        [sys.executable, "-c", POLICIES],
        env={"PATH": "/usr/bin:/bin", "SNAPSHOT_DEADLINE_HOUR": "9"},
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert loaded.stdout.splitlines() == ["stickers 0 9 * * * 9:00:00 UTC", "warehouse 0 9 * * * 9:00:00 UTC"], loaded.stderr
    # A wrong hour keeps the code loading (the default stands) and makes the late-day sensor's ticks fail,
    # naming the variable.
    checked = subprocess.run(
        [DG, "check", "defs"],
        env={"PATH": "/usr/bin:/bin", "SNAPSHOT_DEADLINE_HOUR": "25"},
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout + checked.stderr
    robot = receiver("dingtalk")
    alert_env(robot, SNAPSHOT_DEADLINE_HOUR="25")
    with pytest.raises(Exception, match=r"SNAPSHOT_DEADLINE_HOUR='25' is not a whole hour of the day, 1 to 23"):
        Ticks(instance, "alert_on_late_day").tick()
    assert robot.posts == []


def sensor_ticks(home, name: str) -> list:
    """The ticks the daemon recorded for a sensor, newest first."""
    from dagster._core.scheduler.instigation import InstigatorType

    with dg.DagsterInstance.from_config(str(home)) as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == name:
                return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return []


def wait_for(condition, what: str, timeout_s: float = 180):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(1)
    return value


def test_the_daemon_posts_one_message_for_a_run_that_dg_launch_failed_and_one_for_the_late_day(
    vod_service, tmp_path, dagster_home, receiver
):
    robot = receiver("feishu")
    service = vod_service(catalog_size=20, calls_per_second=None)
    data = tmp_path / "data"
    data.mkdir()
    write_videos(service, data / "videos.csv")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DAGSTER_HOME": str(dagster_home),
        "PIPELINE_DATA_DIR": str(data),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "test-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": VOD_SECRET,
        "VOD_ENDPOINT": service.endpoint,
        "ALERT_WEBHOOK_URL": robot.url,
        "ALERT_WEBHOOK_KIND": "feishu",
        "ALERT_WEBHOOK_SECRET": ROBOT_SECRET,
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
    }
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The sensors are on from the start; the failure sensor's first tick marks where it starts watching.
        wait_for(lambda: sensor_ticks(dagster_home, "alert_on_failure"), "the failure sensor's first tick")
        late = wait_for(lambda: robot.accepted, "the late day's message")
        assert "is late" in late[0] and "stickers and warehouse" in late[0]
        assert "Error: no run of the day was started" in late[0] and "Dagster: http://127.0.0.1:3000/assets/stickers" in late[0]

        launched = subprocess.run(
            [DG, "launch", "--assets", "videos,sticker_responses", "--partition", DAY],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert launched.returncode != 0  # the wrong VOD secret fails the run
        wait_for(lambda: len(robot.accepted) == 2, "the failed run's message")
        ticks = len(sensor_ticks(dagster_home, "alert_on_failure"))
        wait_for(lambda: len(sensor_ticks(dagster_home, "alert_on_failure")) > ticks, "one more tick")
        # The freshness daemon evaluates the deadline of the assets that have one, and only those: stickers
        # materialized since midnight UTC passes, the warehouse never materialized is unknown.
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            materialize_day(instance, DAY, "stickers")
            keys = [dg.AssetKey(n) for n in ("videos", "stickers", "warehouse")]
            states = wait_for(
                lambda: (s := instance.get_freshness_state_records(keys)).get(keys[1]) and s[keys[1]].freshness_state.value == "PASS" and s,
                "stickers to pass its deadline",
            )
        assert {k.to_user_string(): r.freshness_state.value for k, r in states.items()} == {
            "videos": "NOT_APPLICABLE",
            "stickers": "PASS",
            "warehouse": "UNKNOWN",
        }
    finally:
        daemon.terminate()
        log = daemon.communicate(timeout=60)[0]

    assert len(robot.posts) == 2 and all(p["signed"] for p in robot.posts), log[-3000:]
    failed = robot.accepted[1]
    assert f"Snapshot day {DAY} failed" in failed and "SignatureDoesNotMatch" in failed
    stored = [path.read_bytes().decode("utf-8", "replace") for path in dagster_home.rglob("*") if path.is_file()]
    assert len(stored) > 5  # run and event storage, ticks, the sensors' logs
    no_secret_in(robot, log, *stored)


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        ({"ALERT_WEBHOOK_URL": "oapi.dingtalk.com/robot/send"}, "ALERT_WEBHOOK_URL is not a URL"),
        ({"ALERT_WEBHOOK_URL": "https://chat.example/hook"}, "ALERT_WEBHOOK_KIND is not set and chat.example is not a known robot host"),
        ({"ALERT_WEBHOOK_SECRET": ROBOT_SECRET}, "ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not"),
        ({"SNAPSHOT_DEADLINE_HOUR": "6am"}, "SNAPSHOT_DEADLINE_HOUR='6am' is not a whole hour of the day"),
    ],
)
def test_a_bad_alert_setting_stops_vod_stickers_run_before_the_first_call(vod_service, tmp_path, variables, line):
    service = vod_service(catalog_size=5, calls_per_second=None)
    (tmp_path / "data").mkdir()
    write_videos(service, tmp_path / "data" / "videos.csv")
    env = {
        "PATH": "/usr/bin:/bin",
        "PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "test-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test-secret-Zq8Lw3Kp9Vx2",
        "VOD_ENDPOINT": service.endpoint,
        **variables,
    }
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--day", DAY], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith(f"vod-stickers: {line}")
    assert ROBOT_SECRET not in run.stderr
    assert service.stats["requests"] == 0


def test_events_that_stopped_post_one_message_naming_the_likely_cause(receiver, alert_env, monkeypatch):
    import logging

    from pipeline.defs.alerts import alert_events_stopped

    robot = receiver("slack", secret=None)
    what = "no DynamicImageComplete event arrived for the plans of 2026-11-02, ...: check VOD_CALLBACK_URL or VOD_MNS_QUEUE"
    assert "ALERT_WEBHOOK_URL is not set" in alert_events_stopped(logging.getLogger("test"), "2026-11-05", "shop", "run-1", what)
    alert_env(robot)
    outcome = alert_events_stopped(logging.getLogger("test"), "2026-11-05", "shop", "run-1", what)
    assert outcome.startswith("Alert sent") and len(robot.accepted) == 1
    text = robot.accepted[0]
    assert text.startswith("[vod-stickers] VOD's sticker events of account shop have stopped")
    assert "Day: 2026-11-05" in text and "VOD_CALLBACK_URL" in text and "every VOD_REFRESH_DAYS days" in text
    assert "http://dagster.internal:3000/runs/run-1" in text
