"""The live window on a real X server (Xvfb): what appears on screen, the keys, the close button.

Each test starts the window in its own process on a private Xvfb display, as ``siform live``
would run it, shows a real frame of ``sample_videos/bridge_raised_side.mp4`` with the landmarks
the real MediaPipe model finds on it and a mid-set :class:`LiveView`, then grabs the screen with
ffmpeg's x11grab and looks for the drawn, mirrored picture in it. Keys are typed and the window
closed through the X server itself (XTEST, and the WM_DELETE_WINDOW message a window manager sends
for the close button), so the path under test is OpenCV's own.

Set ``SIFORM_SHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from siform.errors import SiformError
from siform.live import overlay
from siform.live.cues import rep_message
from siform.live.overlay import draw_live, unit
from siform.live.state import Counter, LastItem, LiveView
from siform.live.window import LiveWindow, WindowError
from siform.pipeline import analyze_track
from siform.pose import PoseEstimator
from siform.sources import Frame
from siform.specs.load import find_spec

from factories import bridge_side_view

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"
FFMPEG = "/usr/bin/ffmpeg"
SCREEN = (1280, 800)
SHOWN = (960, 720)
TITLE = "siform live test"

pytestmark = pytest.mark.skipif(
    not (shutil.which("Xvfb") and Path(FFMPEG).is_file() and ctypes.util.find_library("Xtst")),
    reason="needs Xvfb, /usr/bin/ffmpeg (x11grab) and libXtst",
)


# --- the X server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb on the first free display number from :90."""
    for n in range(90, 190):
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{n}").exists():
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            return
        proc.kill()
        proc.wait()
    pytest.fail("no free X display number between :90 and :189")


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]  # fmt: skip


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


class X:
    """The few Xlib/XTEST calls a person's hands stand for: move the pointer, type, close."""

    def __init__(self, display: str) -> None:
        x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
        xtst = ctypes.CDLL(ctypes.util.find_library("Xtst"))
        vp, ul = ctypes.c_void_p, ctypes.c_ulong
        x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype, x11.XDefaultRootWindow.argtypes = ul, [vp]
        ptr = ctypes.POINTER
        x11.XQueryTree.argtypes = [vp, ul, ptr(ul), ptr(ul), ptr(ptr(ul)), ptr(ctypes.c_uint)]
        x11.XFetchName.argtypes = [vp, ul, ctypes.POINTER(ctypes.c_char_p)]
        x11.XInternAtom.restype, x11.XInternAtom.argtypes = ul, [vp, ctypes.c_char_p, ctypes.c_int]
        x11.XSendEvent.argtypes = [vp, ul, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)]
        x11.XStringToKeysym.restype, x11.XStringToKeysym.argtypes = ul, [ctypes.c_char_p]
        x11.XKeysymToKeycode.restype, x11.XKeysymToKeycode.argtypes = ctypes.c_ubyte, [vp, ul]
        x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [vp]
        xtst.XTestFakeKeyEvent.argtypes = [vp, ctypes.c_uint, ctypes.c_int, ul]
        xtst.XTestFakeMotionEvent.argtypes = [vp, ctypes.c_int, ctypes.c_int, ctypes.c_int, ul]
        self.x11, self.xtst = x11, xtst
        self.d = x11.XOpenDisplay(display.encode())
        assert self.d, f"cannot open {display}"

    def window(self, title: str) -> int | None:
        def walk(win: int) -> int | None:
            name = ctypes.c_char_p()
            if self.x11.XFetchName(self.d, win, ctypes.byref(name)) and name.value == title.encode():
                return win
            root, parent, n = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_uint()
            kids = ctypes.POINTER(ctypes.c_ulong)()
            if self.x11.XQueryTree(self.d, win, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids),
                                   ctypes.byref(n)):  # fmt: skip
                for i in range(n.value):
                    found = walk(kids[i])
                    if found:
                        return found
            return None

        return walk(self.x11.XDefaultRootWindow(self.d))

    def type(self, *keysyms: str, at: tuple[int, int]) -> None:
        """Keys go to the window under the pointer (no window manager here)."""
        self.xtst.XTestFakeMotionEvent(self.d, 0, at[0], at[1], 0)
        for sym in keysyms:
            code = self.x11.XKeysymToKeycode(self.d, self.x11.XStringToKeysym(sym.encode()))
            self.xtst.XTestFakeKeyEvent(self.d, code, 1, 0)
            self.xtst.XTestFakeKeyEvent(self.d, code, 0, 0)
            self.x11.XFlush(self.d)
            time.sleep(0.3)

    def close_window(self, win: int) -> None:
        """What a window manager sends when the close button is clicked."""
        ev = _XEvent()
        ev.xclient.type, ev.xclient.window, ev.xclient.format = 33, win, 32  # ClientMessage
        ev.xclient.message_type = self.x11.XInternAtom(self.d, b"WM_PROTOCOLS", 0)
        ev.xclient.l[0] = self.x11.XInternAtom(self.d, b"WM_DELETE_WINDOW", 0)
        self.x11.XSendEvent(self.d, win, 0, 0, ctypes.byref(ev))
        self.x11.XFlush(self.d)

    def close(self) -> None:
        self.x11.XCloseDisplay(self.d)


def grab(display: str, path: Path, keep: bool = True) -> npt.NDArray[np.uint8]:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab", "-draw_mouse", "0",
                    "-video_size", f"{SCREEN[0]}x{SCREEN[1]}", "-i", display, "-frames:v", "1", str(path)],
                   check=True, timeout=60)  # fmt: skip
    shot = cv2.imread(str(path))
    assert shot is not None and shot.shape[:2] == (SCREEN[1], SCREEN[0])
    folder = os.environ.get("SIFORM_SHOT_DIR")
    if keep and folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
    return shot


# --- what is shown ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A real frame (the top of the clip's faulty rep 3), its real landmarks, and the sentence the
    coach would show for a faulty bridge rep (a real engine result on a synthetic bridge)."""
    cap = cv2.VideoCapture(str(CLIP))
    for _ in range(211):
        ok, image = cap.read()
        assert ok
    cap.release()
    with PoseEstimator(model_path=model_path) as est:
        pose = est(Frame(0, 0, image))
    assert pose.found
    frame = cv2.resize(image, SHOWN, interpolation=cv2.INTER_CUBIC)
    spec = find_spec("glute_bridge")
    track, _truth = bridge_side_view(reps=3, drop_rep=2)
    rep = analyze_track(track, spec).reps[2]
    assert rep.failed
    folder = tmp_path_factory.mktemp("scene")
    np.savez(folder / "scene.npz", frame=frame, landmarks=pose.image)
    cue = next(c.cue for c in spec.checks if c.id == rep.failed[0].id)
    return {"dir": folder, "frame": frame, "landmarks": pose.image, "message": rep_message(rep, spec),
            "score": rep.score, "cue": cue}  # fmt: skip


def mid_set(scene: dict[str, object]) -> LiveView:
    return LiveView(
        t_ms=21_000, phase="active", exercise="Glute bridge", set_number=1, sets=2,
        counters=(Counter(None, 3, 10),), landmarks=scene["landmarks"],  # type: ignore[arg-type]
        cue=str(scene["cue"]), failing=(("left_hip", "right_hip"),),
        last=LastItem("rep", 3, float(scene["score"]), False, str(scene["message"])),  # type: ignore[arg-type]
    )  # fmt: skip


def rest(scene: dict[str, object]) -> LiveView:
    return LiveView(
        t_ms=61_000, phase="rest", exercise="Glute bridge", set_number=1, sets=2,
        counters=(Counter(None, 10, 10),), landmarks=scene["landmarks"],  # type: ignore[arg-type]
        rest_left_s=42.2, message="Next: set 2 of 2",
        summary=("Set 1: 10 of 10 reps, mean score 86 / 100", "Most often missed: Pelvis stays level"),
    )  # fmt: skip


def setup(scene: dict[str, object]) -> LiveView:
    how = find_spec("glute_bridge").views[0].how
    return LiveView(t_ms=2_000, phase="setup", exercise="Glute bridge", set_number=1, sets=2,
                    counters=(Counter(None, 0, 10),), landmarks=scene["landmarks"],  # type: ignore[arg-type]
                    message=how)  # fmt: skip


VIEWS = {"mid_set": mid_set, "rest": rest, "setup": setup}

CHILD = """
import json, sys, time
import numpy as np
from siform.live.state import Counter, LastItem, LiveView, HoldClock
from siform.live.window import LiveWindow
folder = sys.argv[1]
data = np.load(folder + "/scene.npz")
spec = json.load(open(folder + "/view.json"))
spec["landmarks"] = data["landmarks"]
spec["counters"] = tuple(Counter(**c) for c in spec["counters"])
spec["failing"] = tuple(tuple(p) for p in spec["failing"])
spec["summary"] = tuple(spec["summary"])
if spec["last"]:
    spec["last"] = LastItem(**spec["last"])
view = LiveView(**spec)
frame = data["frame"]
if len(sys.argv) > 3:
    import cv2
    frame = cv2.resize(frame, tuple(int(v) for v in sys.argv[3].split("x")))
shown = 0
with LiveWindow(title=sys.argv[2]) as win:
    end = time.monotonic() + 40
    while time.monotonic() < end:
        key = win.show(frame, view)
        shown += 1
        if shown == 15:
            import cv2
            json.dump(list(cv2.getWindowImageRect(sys.argv[2])), open(folder + "/rect.json", "w"))
            open(folder + "/ready", "w").close()
        if key:
            print(key, flush=True)
            if key == "quit":
                break
        time.sleep(0.03)
"""


def start_window(
    scene: dict[str, object], view: LiveView, display: str, size: tuple[int, int] | None = None
) -> subprocess.Popen[str]:
    folder = Path(str(scene["dir"]))
    (folder / "ready").unlink(missing_ok=True)
    fields = {k: getattr(view, k) for k in view.__dataclass_fields__ if k != "landmarks"}
    fields["counters"] = [{"side": c.side, "done": c.done, "prescribed": c.prescribed} for c in view.counters]
    fields["last"] = None if view.last is None else {
        "kind": view.last.kind, "number": view.last.number, "score": view.last.score,
        "passed": view.last.passed, "message": view.last.message, "provisional": view.last.provisional,
    }  # fmt: skip
    (folder / "view.json").write_text(json.dumps(fields))
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    resize = [f"{size[0]}x{size[1]}"] if size else []
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), TITLE, *resize], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (folder / "ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the window did not come up: {out}\n{err[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[str], x: X | None = None) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def locate(shot: npt.NDArray[np.uint8], picture: npt.NDArray[np.uint8]) -> tuple[float, tuple[int, int]]:
    """Where ``picture`` sits on the screen and how well it matches (0 = pixel for pixel)."""
    score, _max, where, _w = cv2.minMaxLoc(cv2.matchTemplate(shot, picture, cv2.TM_SQDIFF_NORMED))
    return score, where


@pytest.mark.parametrize("name", list(VIEWS))
def test_the_window_shows_the_mirrored_drawn_frame(
    scene: dict[str, object], display: str, tmp_path: Path, name: str
) -> None:
    view = VIEWS[name](scene)
    frame = scene["frame"]
    assert isinstance(frame, np.ndarray)
    expected = draw_live(frame, view, mirror=True)
    proc = start_window(scene, view, display)
    try:
        for _attempt in range(3):  # on a busy machine the first grab may catch the window mid-paint
            shot = grab(display, tmp_path / f"live_window_{name}.png")
            score, (x, y) = locate(shot, expected)
            if score < 0.002:
                break
            time.sleep(1.0)
    finally:
        stop(proc)
    assert shot.mean() > 40 and shot.std() > 20  # not a black (or blank) screen
    assert score < 0.002, score  # the drawn picture, pixel for pixel
    unmirrored = draw_live(frame, view, mirror=False)
    assert locate(shot, unmirrored)[0] > 20 * max(score, 1e-4)  # and it is the mirrored one
    window = shot[y : y + SHOWN[1], x : x + SHOWN[0]]
    assert np.abs(window.astype(int) - expected).mean() < 2.0
    # the words on screen read left to right: the "Set 1 of 2" box, pixel for pixel and unflipped
    words = overlay._Lines(np.zeros((*SHOWN[::-1], 3), np.uint8), unit(SHOWN[1], SHOWN[0]))
    box = words.box(f"Set {view.set_number} of {view.sets}", 34, 700)
    assert locate(window, box)[0] < 0.002
    assert locate(window, np.ascontiguousarray(box[:, ::-1]))[0] > 0.05


def test_keys_pause_next_and_quit(scene: dict[str, object], display: str) -> None:
    proc = start_window(scene, mid_set(scene), display)
    x = X(display)
    try:
        x.type("space", "n", "q", at=(SHOWN[0] // 2, SHOWN[1] // 2))
        out, _err = proc.communicate(timeout=20)
    finally:
        x.close()
        stop(proc)
    assert out.split() == ["pause", "next", "quit"]
    assert proc.returncode == 0


def test_escape_quits(scene: dict[str, object], display: str) -> None:
    proc = start_window(scene, mid_set(scene), display)
    x = X(display)
    try:
        x.type("Escape", at=(SHOWN[0] // 2, SHOWN[1] // 2))
        out, _err = proc.communicate(timeout=20)
    finally:
        x.close()
        stop(proc)
    assert out.split() == ["quit"]


def test_closing_the_window_counts_as_quit(scene: dict[str, object], display: str) -> None:
    proc = start_window(scene, mid_set(scene), display)
    x = X(display)
    try:
        win = x.window(TITLE)
        assert win, "the live window is not on the X server"
        x.close_window(win)
        out, _err = proc.communicate(timeout=20)
    finally:
        x.close()
        stop(proc)
    assert out.split() == ["quit"] and proc.returncode == 0


def test_no_display_is_one_plain_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform != "linux":
        pytest.skip("only Linux needs a display variable")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(WindowError) as err:
        LiveWindow().open()
    assert isinstance(err.value, SiformError) and "--no-window" in str(err.value)


@pytest.mark.parametrize(("camera", "window"), [((1920, 1080), (1280, 720)), ((1080, 1920), (405, 720))])
def test_a_big_camera_image_opens_a_window_that_fits_a_laptop_screen(
    scene: dict[str, object], display: str, camera: tuple[int, int], window: tuple[int, int]
) -> None:
    proc = start_window(scene, mid_set(scene), display, size=camera)
    try:
        rect = json.loads((Path(str(scene["dir"])) / "rect.json").read_text())
    finally:
        stop(proc)
    assert tuple(rect[2:]) == window


def _video_frames(path: Path, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return np.asarray(frames, dtype=np.float32)


@pytest.mark.slow
def test_siform_live_itself_shows_the_mirrored_camera_in_its_window(display: str, tmp_path: Path) -> None:
    """The whole command, as a patient starts it (a video standing in for the camera, paced at
    real time), grabbed from the screen every second: each picture of the window is a frame of
    the video, mirrored, under the overlay; the session then ends on its summary."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "siform", "live", "glute_bridge", "--source", str(CLIP), "--mute",
           "--pain", "0", "--red-flags", "none", "-o", str(tmp_path / "session")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shots: list[npt.NDArray[np.uint8]] = []
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            shots.append(grab(display, tmp_path / f"t{len(shots):02d}.png", keep=False))
            time.sleep(1.0)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "session.json" in out
    small = (160, 120)  # the clip is 640x480 and the window opens at that size, at the screen's corner
    video = _video_frames(CLIP, small)
    matched = []
    for k, shot in enumerate(shots):
        if shot[:480, :640].std() < 5:  # the window is not up yet (or gone)
            continue
        seen = cv2.resize(shot[:480, :640], small, interpolation=cv2.INTER_AREA).astype(np.float32)
        # the overlay covers part of the picture: the median pixel still tells which frame it is
        mirrored = np.median(np.abs(video[:, :, ::-1] - seen).reshape(len(video), -1), axis=1)
        plain = np.median(np.abs(video - seen).reshape(len(video), -1), axis=1)
        if mirrored.min() < 6.0:
            matched.append(k)
            assert plain.min() > 2 * mirrored.min(), (k, plain.min(), mirrored.min())
    assert len(matched) >= 5, f"the mirrored video was seen in {len(matched)} of {len(shots)} grabs"
    # the last picture while the window was up is the summary: the frame dimmed behind its text
    last = max(k for k, shot in enumerate(shots) if shot[:480, :640].std() >= 5)
    window = [shot[:480, :640] for shot in shots]
    assert last not in matched and window[last].mean() < 0.6 * window[matched[-1]].mean()
    keep = os.environ.get("SIFORM_SHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        chosen = {"setup": matched[0], "mid_set": matched[len(matched) // 2], "end": last}
        for name, k in chosen.items():
            shutil.copy(tmp_path / f"t{k:02d}.png", Path(keep) / f"siform_live_{name}.png")
