"""End to end in headless Chromium: a real server (uvicorn, SQLite), a therapist in a real browser.

The server runs as its own process (``uvicorn siform.server.app:app_from_env``, settings from the
environment as ``siform serve`` passes them); a patient is added and a device paired over HTTP, two
real session documents (the engine's output on a synthetic bridge, recorded two weeks apart) are
uploaded with the device token, then Chromium logs in through the form, opens the patient, sees
the session and the trend plots, opens the session and saves a note. Chromium is driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no extra package). Screenshots go
to ``SIFORM_SHOTS_DIR`` when set (for a person to look at), else into the test's temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import fcntl
import json
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from siform.server.command import create_therapist
from siform.server.db import make_engine, upgrade

from .conftest import SECRET, add_patient, free_port, login, pair, upload, wait_for

CHROMIUM = Path("/usr/bin/chromium")
EMAIL, PASSWORD = "e2e@clinic.example", "e2e-therapist-password"
LABEL = "E2E Patient <b>bold?</b>"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium to run this)"
)


class Browser:
    """Headless Chromium over the DevTools protocol on fds 3 (commands) and 4 (answers, events)."""

    def __init__(self, profile: Path) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        for name, fd in (("in", to_child_r), ("out", from_child_w)):  # above 4, to not be 3 or 4
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "in":
                to_child_r = high
            else:
                from_child_w = high
        cmd = [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1200,900",
        ]  # fmt: skip
        # chromium reads commands on fd 3 and answers on fd 4: a tiny Python launcher puts the pipe
        # ends there (they are above 10, so neither dup2 clobbers the other) and execs chromium
        launcher = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.close(int(sys.argv[1])); os.close(int(sys.argv[2])); os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", launcher, str(to_child_r), str(from_child_w), *cmd],
            pass_fds=(to_child_r, from_child_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return dict(json.loads(raw))

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params: Any) -> Any:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def page(self, method: str, **params: Any) -> Any:
        return self.call(method, session=self.session, **params)

    def wait_load(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == "Page.loadEventFired":
                    del self.events[: i + 1]
                    return
            self.events.append(self._read(deadline))

    def go(self, url: str) -> None:
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_load()

    def js(self, expression: str) -> Any:
        r = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def act(self, expression: str) -> None:
        """Run ``expression`` (a click, a form submit) and wait for the page it loads."""
        self.events.clear()
        self.js(expression)
        self.wait_load()

    def shot(self, path: Path) -> None:
        size = self.page("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": 1200, "height": min(int(size["height"]) + 1, 4000), "scale": 1}
        data = self.page("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError):
            self.call("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    create_therapist(engine, EMAIL, "Dr E2E", PASSWORD)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "SIFORM_DATABASE_URL": url, "SIFORM_SECRET_KEY": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "siform.server.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_therapist_sees_the_uploaded_session_and_its_trend(
    live_server: str, session_doc: dict[str, Any], tmp_path: Path
) -> None:
    import httpx

    shots = Path(os.environ.get("SIFORM_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=live_server, follow_redirects=False) as setup:
        csrf = login(setup, EMAIL, PASSWORD)  # type: ignore[arg-type]
        patient_id, code = add_patient(setup, csrf, LABEL)  # type: ignore[arg-type]
        token = pair(setup, code, "kitchen laptop")["token"]  # type: ignore[arg-type]
    now = datetime.now(UTC)
    recorded = []
    with httpx.Client(base_url=live_server) as device:
        for days, score in ((14, 55.0), (0, None)):
            doc = copy.deepcopy(session_doc)
            doc["created_utc"] = (now - timedelta(days=days)).isoformat(timespec="seconds")
            doc["session_id"] = str(uuid.uuid4())
            if score is not None:  # the earlier session: weaker form, so the trend has a slope
                doc["summary"]["mean_score"] = score
            recorded.append(datetime.fromisoformat(doc["created_utc"]).strftime("%Y-%m-%d %H:%M UTC"))
            r = upload(device, token, patient_id, doc)  # type: ignore[arg-type]
            assert r.status_code == 201, r.text

    browser = Browser(tmp_path / "profile")
    try:
        browser.go(live_server + "/patients")  # not logged in: the login page
        assert browser.js("document.querySelector('h1').textContent") == "Log in"
        browser.act(
            f"document.querySelector('input[name=email]').value = {json.dumps(EMAIL)};"
            f"document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};"
            "document.querySelector('form[action=\"/login\"]').submit()"
        )
        assert browser.js("location.pathname") == "/patients"
        assert LABEL in browser.js("document.body.innerText")  # shown as text, not markup
        assert browser.js("document.querySelectorAll('main b').length") == 0
        browser.shot(shots / "server_patients.png")

        browser.act(f"document.querySelector('a[href=\"/patients/{patient_id}\"]').click()")
        text = browser.js("document.body.innerText")
        assert "Trends by week" in text
        for when in recorded:
            assert when in text  # both sessions listed
        plots = browser.js(
            "[...document.querySelectorAll('figure.trend svg')].map(s => "
            "[s.closest('figure').dataset.metric, s.getBoundingClientRect().width, "
            "s.querySelectorAll('path').length])"
        )
        assert plots and plots[0][0] == "score"
        assert all(width > 200 and paths > 3 for _m, width, paths in plots), plots
        browser.js("document.getElementById('trends').scrollIntoView()")
        browser.shot(shots / "server_patient.png")

        browser.act(f"document.querySelector('a[href^=\"/patients/{patient_id}/sessions/\"]').click()")
        assert session_doc["exercise"]["name"] in browser.js("document.querySelector('h1').textContent")
        browser.act(
            "document.querySelector('textarea[name=text]').value = 'Hips level; add a set next week.';"
            "document.querySelector('form[action$=\"/notes\"]').submit()"
        )
        assert "Hips level; add a set next week." in browser.js("document.getElementById('notes').innerText")
        browser.shot(shots / "server_session.png")

        browser.act("document.querySelector('a[href$=\"/report\"]').click()")
        assert "Rep by rep" in browser.js("document.body.innerText")
        # the upload carries the per-frame series: the server draws report.html's charts from them
        charts = browser.js(
            "[...document.querySelectorAll('#plots svg')].map(s => s.getBoundingClientRect().width)"
        )
        assert charts and all(width > 200 for width in charts), charts
        browser.shot(shots / "server_report.png")

        set_prescription(browser, live_server, patient_id, shots)
    finally:
        browser.close()


def set_prescription(browser: Browser, base: str, patient_id: str, shots: Path) -> None:
    """The therapist opens the patient's prescription from the patient page, first types a minimum
    above the maximum (refused, said on the page), then prescribes the bridge and the clamshell and
    sees version 1 saved, on the form and on the patient page."""
    browser.go(f"{base}/patients/{patient_id}")
    browser.act(f"document.querySelector('a[href=\"/patients/{patient_id}/prescription\"]').click()")
    assert browser.js("document.querySelector('h1').textContent").startswith("Prescription for")

    def fill(values: dict[str, str]) -> None:
        for name, value in values.items():
            browser.js(
                f"(() => {{ const e = document.querySelector('[name=\"{name}\"]');"
                " e.closest('details').open = true;"
                f" if (e.type === 'checkbox') e.checked = true; else e.value = {json.dumps(value)}; }})()"
            )

    fill({"ex.glute_bridge.on": "1", "ex.glute_bridge.limit.level_pelvis.min": "0.05",
          "ex.glute_bridge.limit.level_pelvis.max": "0.01"})  # fmt: skip
    browser.act("document.getElementById('prescription').submit()")
    errors = browser.js("document.getElementById('errors').innerText")
    assert "Not saved." in errors and "the minimum (0.05) is above the maximum (0.01)" in errors
    browser.shot(shots / "server_prescription_refused.png")

    fill({
        "ex.glute_bridge.limit.level_pelvis.min": "", "ex.glute_bridge.limit.level_pelvis.max": "0.03",
        "ex.glute_bridge.sets": "3", "ex.glute_bridge.reps": "12",
        "ex.glute_bridge.note": "Breathe out as you lift; keep the hips level.",
        "ex.clamshell.on": "1", "ex.clamshell.side": "left", "ex.clamshell.limit.pelvis_stacked.max": "0.012",
    })  # fmt: skip
    browser.act("document.getElementById('prescription').submit()")
    assert browser.js("document.getElementById('saved').innerText") == "Saved as version 1."
    history = browser.js("document.getElementById('history').innerText")
    assert "Glute bridge: 3 × 12 reps a day, rest 60 s" in history
    assert "Clamshell:" in history and "left side only" in history
    # the saved values are back in the form, each beside the exercise's own
    assert browser.js("document.querySelector('[name=\"ex.glute_bridge.sets\"]').value") == "3"
    assert (
        browser.js("document.querySelector('[name=\"ex.glute_bridge.limit.level_pelvis.max\"]').value")
        == "0.03"
    )
    browser.shot(shots / "server_prescription.png")

    browser.go(f"{base}/patients/{patient_id}")
    text = browser.js("document.getElementById('prescription').innerText")
    assert "Version 1, by Dr E2E" in text and "Glute bridge: 3 × 12 reps a day" in text
    adherence = browser.js("document.getElementById('adherence').innerText")
    assert "your prescription" in adherence and "Clamshell" in adherence
    browser.js("document.getElementById('prescription').scrollIntoView()")
    browser.shot(shots / "server_prescription_patient.png")


def test_therapist_plays_the_video_the_patient_shared(
    live_server: str, session_doc: dict[str, Any], tmp_path: Path
) -> None:
    """A session whose video the patient shared (``--share-video``): the session page's player loads
    it from the server (the page's CSP allows media from the site itself), seeks into it (HTTP
    ranges), and shows a frame of the patient."""
    import httpx

    from .conftest import ROOT, bearer

    clip = ROOT / "sample_videos" / "bridge_high_right.mp4"  # H.264, 640x480, 13.3 s
    shots = Path(os.environ.get("SIFORM_SHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=live_server, follow_redirects=False) as setup:
        csrf = login(setup, EMAIL, PASSWORD)  # type: ignore[arg-type]
        patient_id, code = add_patient(setup, csrf, "Video Patient")  # type: ignore[arg-type]
        token = pair(setup, code, "kitchen laptop")["token"]  # type: ignore[arg-type]
    with httpx.Client(base_url=live_server) as device:
        doc = copy.deepcopy(session_doc)
        doc["session_id"] = str(uuid.uuid4())
        r = upload(device, token, patient_id, doc)  # type: ignore[arg-type]
        assert r.status_code == 201, r.text
        session_id = r.json()["id"]
        r = device.put(
            f"/api/v1/patients/{patient_id}/sessions/{session_id}/video",
            content=clip.read_bytes(),
            headers={**bearer(token), "Content-Type": "video/mp4"},
        )
        assert r.status_code == 201, r.text

    browser = Browser(tmp_path / "profile")
    try:
        browser.go(live_server + "/login")
        browser.act(
            f"document.querySelector('input[name=email]').value = {json.dumps(EMAIL)};"
            f"document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};"
            "document.querySelector('form[action=\"/login\"]').submit()"
        )
        browser.go(f"{live_server}/patients/{patient_id}/sessions/{session_id}")
        # seek to the middle of the clip (a bridge held up) and wait for that frame
        browser.js(
            "window.seeked = false; const v = document.querySelector('#video video');"
            "v.addEventListener('seeked', () => { window.seeked = true; });"
            "if (v.readyState >= 1) { v.currentTime = 6; } else "
            "{ v.addEventListener('loadedmetadata', () => { v.currentTime = 6; }); }"
        )
        deadline = time.monotonic() + 30
        while not browser.js("window.seeked") and time.monotonic() < deadline:
            time.sleep(0.2)
        state = browser.js(
            "(() => { const v = document.querySelector('#video video'); return {ready: v.readyState, "
            "w: v.videoWidth, h: v.videoHeight, t: v.currentTime, d: v.duration, "
            "err: v.error && v.error.code}; })()"
        )
        assert state["err"] is None and state["ready"] >= 2, state
        assert (state["w"], state["h"]) == (640, 480), state
        assert abs(state["d"] - 13.33) < 0.1 and abs(state["t"] - 6) < 0.1, state
        browser.js("document.getElementById('video').scrollIntoView()")
        browser.shot(shots / "server_video.png")
    finally:
        browser.close()
    with httpx.Client(base_url=live_server, follow_redirects=False) as web:
        login(web, EMAIL, PASSWORD)  # type: ignore[arg-type]
        events = web.get(f"/patients/{patient_id}/audit").text
    assert events.count("video.viewed") == 1, "one viewing, however many ranges the player asked for"
