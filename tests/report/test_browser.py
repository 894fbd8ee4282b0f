"""The report in a real browser (headless Debian chromium): it renders, and it asks the network for nothing.

Network proof: chromium's own net log records every URL request with the page's network isolation
key; requests the page makes carry ``file://`` in it, while the browser's background traffic
(component updates, account checks, which the flags only mostly silence) carries none. A control
page with one external image shows the method does see a page's request.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from siform.pipeline import analyze_track
from siform.report import render_report
from siform.session import build_session
from siform.specs.load import load_spec

from factories import bridge_side_view

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium to run these)"
)


def run_chromium(page: Path, tmp: Path, *extra: str) -> None:
    profile = tmp / f"profile-{page.stem}"
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *extra, page.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    shutil.rmtree(profile, ignore_errors=True)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for (not the browser's own background traffic)."""
    text = netlog.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # chromium may exit before writing the closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        p: dict[str, Any] = event.get("params") or {}
        if event["type"] == start_job and "url" in p:
            from_page = "file://" in p.get("network_isolation_key", "") or p.get("initiator") not in (
                None,
                "not an origin",
            )
            if from_page:
                urls.append(p["url"])
    return urls


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _ = bridge_side_view(reps=6, shallow_rep=4)
    result = analyze_track(track, spec)
    doc = build_session(
        result, spec, mode="review", model_path=None, patient="p1",
        source={"file": "bridge.mp4", "width": 640, "height": 480, "fps": 30.0},
    )  # fmt: skip
    img = np.full((270, 360, 3), 235, np.uint8)
    cv2.circle(img, (180, 135), 60, (60, 60, 200), -1)
    thumbs = {
        (r["number"], c["id"]): cv2.imencode(".jpg", img)[1].tobytes()
        for r in doc["reps"]
        for c in r["checks"]
        if c["scored"] and c["passed"] is False
    }
    earlier = json.loads(json.dumps(doc))
    earlier["created_utc"] = "2026-01-05T10:00:00+00:00"
    path = tmp_path_factory.mktemp("report") / "report.html"
    html = render_report(doc, result.t_ms, result.signals, thumbs, [earlier])
    assert "id='trend'" in html
    path.write_text(html, encoding="utf-8")
    return path


def test_renders_and_stays_offline(report_file: Path, tmp_path: Path) -> None:
    png, netlog = tmp_path / "report.png", tmp_path / "netlog.json"
    run_chromium(
        report_file, tmp_path, f"--screenshot={png}", "--window-size=1200,3000",
        f"--log-net-log={netlog}", "--net-log-capture-mode=Default",
    )  # fmt: skip
    image = cv2.imread(str(png))
    assert image is not None and image.shape[:2] == (3000, 1200)
    ink = (image < 200).any(axis=2)
    assert ink.mean() > 0.02, "the page looks blank"
    assert ink[:1500].mean() > 0.02 and ink[1500:].mean() > 0.01, "content is missing from part of the page"
    red = (image[:, :, 2] > 150) & (image[:, :, 1] < 110) & (image[:, :, 0] < 110)
    assert red.sum() > 200, "no failed check is drawn in red"
    assert page_requests(netlog) == []


def test_net_log_sees_page_requests(tmp_path: Path) -> None:
    # The control: the same method must catch a page that does load something from the network.
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><p>control</p><img src='http://127.0.0.1:9/x.png'>", encoding="utf-8")
    netlog = tmp_path / "control.json"
    run_chromium(
        control, tmp_path, f"--screenshot={tmp_path / 'c.png'}", "--window-size=400,300",
        f"--log-net-log={netlog}", "--net-log-capture-mode=Default",
    )  # fmt: skip
    assert page_requests(netlog) == ["http://127.0.0.1:9/x.png"]


def test_prints_to_pdf(report_file: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    run_chromium(report_file, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2


def dumped_body(page: Path, tmp: Path) -> str:
    """The ``<body>`` start tag of the page's DOM after chromium ran it (scripts, load events)."""
    profile = tmp / f"profile-{page.stem}"
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    dom = done.stdout.decode("utf-8", errors="replace")
    return dom[dom.index("<body") : dom.index(">", dom.index("<body")) + 1]


def test_hostile_strings_run_nothing_in_a_browser(tmp_path: Path) -> None:
    """Every string of the session is a script, an event handler and a broken-out attribute that
    would mark <body data-pwned>; chromium runs the report and none of them fires. The control page
    (the same payload pasted raw) proves the payload does fire when it is not escaped."""
    from hostile import PAYLOAD, hostile_session

    h = hostile_session()
    report = tmp_path / "hostile.html"
    report.write_text(render_report(h.doc, h.result.t_ms, h.signals, h.thumbnails, h.history), "utf-8")
    assert "data-pwned" not in dumped_body(report, tmp_path)
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><body><p title='{PAYLOAD}'>x</p>{PAYLOAD}</body>", "utf-8")
    assert "data-pwned" in dumped_body(control, tmp_path)
