"""Draws one :class:`~siform.live.state.LiveView` over one camera frame: what the patient sees.

The person stands 2-3 m from a laptop, so everything is sized from the frame (a unit ``u`` of
1/720 of its height, narrower for a portrait frame) and nothing is small: the counter is about a
tenth of the frame high, the last rep's sentence about a twentieth. Text sits on solid boxes so it
reads on any background.

A laptop camera feels natural only as a mirror, so by default the frame is flipped left-right and
the landmarks' x with it (``1 - x``). Only pixels are mirrored: text is drawn after the flip and is
never reversed, and every word about a side comes from the :class:`LiveView`, whose sides are the
person's own (MediaPipe's ``left_hip`` is the person's left hip, whatever the display does).

It runs every frame after pose inference, whose budget for everything else is 5 ms, so each text
box is rendered once and cached (a copy into the frame per frame after that), and the frame is
flipped in one OpenCV call. Pure: the caller's frame is never written to; a new image is returned.

OpenCV 5's built-in TrueType font (``cv2.FontFace``) is used when present: it draws "±", "°" and
"—" as the report writes them. Older OpenCV (4.x, which pyproject still allows) falls back to the
Hershey font with those signs spelt in ASCII.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from siform.draw.faults import RED
from siform.draw.skeleton import SkeletonAnnotator
from siform.landmarks import NAMES, VISIBILITY
from siform.live.state import Counter, LiveView

Image = npt.NDArray[np.uint8]
BGR = tuple[int, int, int]

WHITE: BGR = (255, 255, 255)
GREY: BGR = (170, 170, 170)
BLACK: BGR = (0, 0, 0)
PANEL: BGR = (28, 28, 28)
GOOD: BGR = (70, 170, 60)
"""Background of a passed rep's sentence; the skeleton's "all checks within limits" colour is brighter."""
SKELETON_OK: BGR = (120, 225, 120)
SKELETON_IDLE: BGR = (235, 235, 235)
FAULT: BGR = RED
WARN: BGR = (0, 150, 255)
"""Amber: a failed or uncounted rep's sentence, a hold clock that has stopped."""
CUE: BGR = (0, 215, 255)
"""Yellow: the one cue, the line the eye should find first."""

MIN_VISIBILITY = 0.3
_INDEX = {name: i for i, name in enumerate(NAMES)}


def unit(height: int, width: int) -> float:
    """Pixels per layout unit: 1.0 at 720 px high; a portrait frame is sized by its width too,
    so a line of text still fits across it."""
    return max(min(height, 0.9 * width), 1) / 720.0


# --- text ------------------------------------------------------------------------------------


class _Font:
    """OpenCV 5's anti-aliased sans font when this OpenCV has it, else Hershey in plain ASCII."""

    def __init__(self) -> None:
        face_cls = getattr(cv2, "FontFace", None)
        self.face = None
        if face_cls is not None:
            try:
                self.face = face_cls("sans")
            except cv2.error:  # a build without its built-in fonts
                self.face = None

    def ascii(self, text: str) -> str:
        if self.face is not None:
            return text
        swap = {"±": "+/-", "°": " deg", "—": "-", "–": "-", "×": "x", "✓": "ok", "✗": "x", "’": "'"}
        return "".join(swap.get(ch, ch) for ch in text).encode("ascii", "replace").decode("ascii")

    def measure(self, text: str, px: int, weight: int) -> tuple[int, int]:
        """Advance width and line height (ascent + descent) of ``text`` at ``px`` pixels."""
        text = self.ascii(text)
        if self.face is not None:
            _x, _y, w, h = cv2.getTextSize((0, 0), text, (0, 0), self.face, px, weight)
            return max(w, 1), max(h, px)
        scale, thick = self._hershey(px, weight)
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        return max(w, 1), h + base

    def put(self, img: Image, text: str, x: int, baseline: int, color: BGR, px: int, weight: int) -> None:
        text = self.ascii(text)
        if self.face is not None:
            cv2.putText(img, text, (x, baseline), color, self.face, px, weight)
        else:
            scale, thick = self._hershey(px, weight)
            cv2.putText(img, text, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)

    @staticmethod
    def _hershey(px: int, weight: int) -> tuple[float, int]:
        thick = max(1, round(px / (14 if weight >= 600 else 22)))
        return cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(int(px * 0.72), 1), thick), thick


FONT = _Font()


@lru_cache(maxsize=1024)
def _measure(text: str, px: int, weight: int) -> tuple[int, int]:
    return FONT.measure(text, px, weight)


@lru_cache(maxsize=512)
def text_box(text: str, px: int, weight: int, fg: BGR, bg: BGR, pad: int) -> Image:
    """``text`` on a solid box, rendered once: the frame loop only copies it."""
    w, h = _measure(text, px, weight)
    box = np.empty((h + 2 * pad, w + 2 * pad, 3), np.uint8)
    box[:] = bg
    # the font's ascent is its pixel size; Hershey's is its cap height, drawn from its own baseline
    ascent = px if FONT.face is not None else h - max(1, px // 4)
    FONT.put(box, text, pad, pad + ascent, fg, px, weight)
    box.flags.writeable = False
    return box


@lru_cache(maxsize=256)
def wrap(text: str, px: int, weight: int, max_width: int, max_lines: int = 4) -> tuple[str, ...]:
    """Break ``text`` into lines no wider than ``max_width`` at spaces (a word longer than the
    line stays whole and is cut by the frame edge); the last allowed line ends in "…" if more
    was left."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and _measure(trial, px, weight)[0] > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " …"]
    return tuple(lines)


def _blit(img: Image, box: Image, x: int, y: int) -> tuple[int, int]:
    """Copy ``box`` with its top-left at (x, y), clipped to the image; returns the box's size."""
    h, w = img.shape[:2]
    bh, bw = box.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + bw, w), min(y + bh, h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = box[y0 - y : y1 - y, x0 - x : x1 - x]
    return bw, bh


def _dim(img: Image, y0: int, y1: int, shift: int = 1) -> None:
    """Darken a full-width band (to 1/2, or 1/4 with ``shift=2``) so the text on it stands out
    while the person stays visible behind. A bit shift in place: a quarter of the cost of scaling."""
    y0, y1 = max(y0, 0), min(y1, img.shape[0])
    if y1 > y0:
        band = img[y0:y1]
        np.right_shift(band, shift, out=band)


class _Lines:
    """Stacks text boxes downwards (or upwards) from an anchor at a given horizontal alignment."""

    def __init__(self, img: Image, u: float) -> None:
        self.img = img
        self.u = u
        self.pad = max(2, round(8 * u))
        self.gap = max(1, round(6 * u))

    def px(self, size: float) -> int:
        return max(9, round(size * self.u))

    def box(self, text: str, size: float, weight: int = 400, fg: BGR = WHITE, bg: BGR = PANEL) -> Image:
        return text_box(text, self.px(size), weight, fg, bg, self.pad)

    def place(self, box: Image, x: int, y: int, align: str = "left") -> tuple[int, int]:
        bw = box.shape[1]
        if align == "right":
            x -= bw
        elif align == "center":
            x -= bw // 2
        return _blit(self.img, box, x, y)

    def paragraph(
        self, text: str, size: float, x: int, y: int, max_width: int, *, weight: int = 400,
        fg: BGR = WHITE, bg: BGR = PANEL, align: str = "left", up: bool = False, max_lines: int = 4,
    ) -> int:  # fmt: skip
        """Draw ``text`` wrapped; ``y`` is the top (or, with ``up``, the bottom). Returns the height."""
        lines = wrap(text, self.px(size), weight, max(max_width - 2 * self.pad, 1), max_lines)
        boxes = [self.box(line, size, weight, fg, bg) for line in lines]
        total = sum(b.shape[0] for b in boxes)
        top = y - total if up else y
        for b in boxes:
            self.place(b, x, top, align)
            top += b.shape[0]
        return total


# --- the drawing -----------------------------------------------------------------------------


def mirror_landmarks(landmarks: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Landmarks as they fall on the mirrored frame: ``x -> 1 - x``, everything else (the names,
    so the sides) unchanged: the person's left hip is still ``left_hip``, now on the screen's left."""
    out = np.array(landmarks, dtype=np.float32, copy=True)
    out[:, 0] = 1.0 - out[:, 0]
    return out


def draw_live(frame_bgr: Image, view: LiveView, mirror: bool = True) -> Image:
    """The live window's picture: ``frame_bgr`` (as the camera gave it, not mirrored) with the
    skeleton, counters, clocks, the last rep's sentence, the cue and any message of ``view``.

    Returns a new image of the frame's size; ``frame_bgr`` is left as it was.
    """
    if frame_bgr.ndim == 2:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    img = cv2.flip(frame_bgr, 1) if mirror else frame_bgr.copy()
    h, w = img.shape[:2]
    u = unit(h, w)
    t = _Lines(img, u)
    margin = max(2, round(14 * u))

    if view.landmarks is not None and view.phase != "done":
        lm = mirror_landmarks(view.landmarks) if mirror else view.landmarks
        _skeleton(img, lm, view, u)

    if view.phase in ("done", "stopped") and view.summary:
        _summary(img, t, view, margin)
        return img

    top = _top_left(t, view, margin, w)
    right_bottom = _counters(t, view, margin, w)
    ring, ring_bottom = 0, right_bottom
    if view.phase == "active" and view.hold is not None:
        ring, ring_bottom = _hold_ring(img, t, view, w - margin, right_bottom + margin, u)

    bottom = h - margin
    bottom -= _keys_help(t, view, w - margin, bottom, w)
    if view.last is not None and view.phase in ("active", "paused"):  # a rest shows the set's summary
        bottom -= _last_item(t, view, margin, bottom, w - 2 * margin) + t.gap

    if view.phase == "rest":
        _rest(img, t, view, max(top, right_bottom), bottom, margin)
    elif view.message:
        # during setup the person must see themselves: the instruction sits low, not over the body
        _big_message(img, t, view.message, top, bottom, margin, low=view.phase == "setup")
    if view.cue and view.phase in ("active", "setup", "rest"):
        # under both top panels, beside the hold ring if there is room, else under it too
        cue_top, width = max(top, right_bottom), int(w * 0.86)
        if ring and w - 2 * (ring + 2 * margin) >= w // 2:
            width = w - 2 * (ring + 2 * margin)
        elif ring:
            cue_top = ring_bottom
        t.paragraph(view.cue, 40, w // 2, cue_top + t.gap, width, weight=700, fg=BLACK, bg=CUE,
                    align="center", max_lines=3)  # fmt: skip
    return img


def _skeleton(img: Image, lm: npt.NDArray[np.floating], view: LiveView, u: float) -> None:
    # counting: green, with the segments of failing checks red over it; otherwise neutral
    color = SKELETON_OK if view.phase == "active" else SKELETON_IDLE
    thick = max(1, round(4 * u))
    SkeletonAnnotator(color=color, thickness=thick, min_visibility=MIN_VISIBILITY).annotate(img, lm)
    if not view.failing or not np.isfinite(lm[0, 0]):
        return
    h, w = img.shape[:2]
    for a, b in view.failing:
        ia, ib = _INDEX.get(a), _INDEX.get(b)
        if ia is None or ib is None:
            continue
        pa, pb = lm[ia], lm[ib]
        if not (np.isfinite(pa[:2]).all() and np.isfinite(pb[:2]).all()):
            continue
        if min(pa[VISIBILITY], pb[VISIBILITY]) < MIN_VISIBILITY:
            continue
        p1 = (round(float(pa[0]) * w), round(float(pa[1]) * h))
        p2 = (round(float(pb[0]) * w), round(float(pb[1]) * h))
        cv2.line(img, p1, p2, FAULT, max(2, round(9 * u)), cv2.LINE_AA)


def _top_left(t: _Lines, view: LiveView, margin: int, w: int) -> int:
    """Exercise, set x of y and the small extra lines; returns the y below them."""
    y = margin
    max_w = int(w * 0.55)
    y += t.paragraph(view.exercise, 28, margin, y, max_w, weight=600, max_lines=2)
    if view.sets:
        y += t.place(t.box(f"Set {view.set_number} of {view.sets}", 34, 700), margin, y)[1]
    for key, value in view.extra.items():
        text = f"{key}: {value}" if value else key
        y += t.paragraph(text, 22, margin, y, max_w, fg=GREY, max_lines=1)
    return y


def counter_label(counter: Counter, kind: str) -> str:
    """ "Reps" for a bilateral exercise, "Left side: holds" for a unilateral one: the person's side."""
    noun = "Holds" if kind == "hold" else "Reps"
    if counter.side is None:
        return noun
    return f"{counter.side.capitalize()} side: {noun.lower()}"


def counter_text(counter: Counter) -> str:
    return f"{counter.done} / {counter.prescribed}" if counter.prescribed else f"{counter.done}"


def _counters(t: _Lines, view: LiveView, margin: int, w: int) -> int:
    """The rep (hold) counters at the top right, the side being worked first and brightest;
    returns the y below them."""
    y = margin
    x = w - margin
    for k, counter in enumerate(view.counters):
        fg = WHITE if k == 0 else GREY
        y += t.place(t.box(counter_label(counter, view.kind), 24, 500, fg), x, y, "right")[1]
        done = counter.prescribed is not None and counter.done >= counter.prescribed
        big = t.box(counter_text(counter), 76 if k == 0 else 44, 800, SKELETON_OK if done else fg)
        y += t.place(big, x, y, "right")[1] + t.gap
    return y


def _sector(cx: int, cy: int, r0: float, r1: float, frac: float) -> npt.NDArray[np.int32]:
    """The outline of a ring's part ``frac`` clockwise from 12 o'clock, in 1/16 px (``shift=4``)."""
    a = np.linspace(-math.pi / 2, -math.pi / 2 + 2 * math.pi * frac, max(8, round(120 * frac)))
    outer = np.stack([cx + r1 * np.cos(a), cy + r1 * np.sin(a)], axis=1)
    inner = np.stack([cx + r0 * np.cos(a[::-1]), cy + r0 * np.sin(a[::-1])], axis=1)
    return np.round(np.concatenate([outer, inner]) * 16).astype(np.int32)


def _hold_ring(img: Image, t: _Lines, view: LiveView, right: int, top: int, u: float) -> tuple[int, int]:
    """The hold clock: a ring filling clockwise from the top, the whole seconds left inside.
    Returns the width it takes from the right edge and the y below it."""
    clock = view.hold
    assert clock is not None
    r = max(6, round(74 * u))
    thick = max(2, round(16 * u))
    cx, cy = right - r - thick, top + r + thick
    frac = 1.0 if clock.target_s <= 0 else min(max(clock.held_s / clock.target_s, 0.0), 1.0)
    # filled shapes only: a thick anti-aliased circle or arc costs OpenCV several times more
    cv2.circle(img, (cx, cy), r + thick, PANEL, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), r + thick // 2, (80, 80, 80), -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), r - thick // 2, PANEL, -1, cv2.LINE_AA)
    color = (SKELETON_OK if frac >= 1.0 else CUE) if clock.in_position else WARN
    if frac > 0:
        cv2.fillPoly(img, [_sector(cx, cy, r - thick // 2, r + thick // 2, frac)], color, cv2.LINE_AA, 4)
    left = max(clock.target_s - clock.held_s, 0.0)
    number = "✓" if left <= 0 else f"{math.ceil(left - 1e-9):d}"
    big = t.box(number, 54, 800, WHITE, PANEL)  # its box stays inside the ring's hole
    t.place(big, cx, cy - big.shape[0] // 2 - round(8 * u), "center")
    small = t.box("s left" if left > 0 else "held", 20, 500, GREY, PANEL)
    t.place(small, cx, cy + big.shape[0] // 2 - round(12 * u), "center")
    bottom = cy + r + thick
    if not clock.in_position:
        note = t.box("clock stopped: get back into position", 24, 600, BLACK, WARN)
        x = min(cx, img.shape[1] - note.shape[1] // 2)
        bottom += t.gap + t.place(note, x, bottom + t.gap, "center")[1]
    return 2 * (r + thick), bottom


def _last_item(t: _Lines, view: LiveView, x: int, bottom: int, max_w: int) -> int:
    """The last rep's (hold's) sentence above the bottom edge: green when it passed, amber when a
    check failed or it did not count. Returns its height."""
    last = view.last
    assert last is not None
    used = 0
    if last.provisional:
        note = "provisional: judged against your first reps; the session's end decides"
        used += t.paragraph(note, 22, x, bottom, max_w, fg=GREY, up=True, max_lines=1)
    fg, bg = (WHITE, GOOD) if last.passed else (BLACK, WARN)
    message = last.message
    if view.cue and message.endswith(view.cue) and len(message) > len(view.cue):
        message = message[: -len(view.cue)].rstrip()  # the cue is on screen already, in yellow
    used += t.paragraph(message, 34, x, bottom - used, max_w, weight=600, fg=fg, bg=bg, up=True,
                        max_lines=4)  # fmt: skip
    return used


def _keys_help(t: _Lines, view: LiveView, right: int, bottom: int, w: int) -> int:
    if not view.keys_help:
        return 0
    box = t.box(view.keys_help, 20, 400, GREY)
    t.place(box, right, bottom - box.shape[0], "right" if box.shape[1] < w else "left")
    return box.shape[0] + t.gap


def _big_message(
    img: Image, t: _Lines, message: str, top: int, bottom: int, margin: int, low: bool = False
) -> None:
    """Why it is paused (centred) or a setup instruction (``low``: at the bottom, so the person
    placing themselves still sees their body), on a darkened band between the panels."""
    w = img.shape[1]
    width = int(w * 0.9)
    # a long instruction (a camera placement) steps down in size rather than lose its end
    for size in (40, 34, 28) if low else (46, 38, 30):
        px = t.px(size)
        lines = wrap(message, px, 700, width - 2 * t.pad, 99)
        if len(lines) <= 4:
            break
    height = len(lines) * (_measure(lines[0], px, 700)[1] + 2 * t.pad) if lines else 0
    y = max(top, bottom - height - margin) if low else max(top, (top + bottom - height) // 2)
    _dim(img, y - margin, y + height + margin)
    t.paragraph(message, size, w // 2, y, width, weight=700, bg=BLACK, align="center", max_lines=5)


def rest_text(seconds: float) -> str:
    s = max(0, math.ceil(seconds - 1e-9))
    return f"{s // 60}:{s % 60:02d}"


def _rest(img: Image, t: _Lines, view: LiveView, top: int, bottom: int, margin: int) -> None:
    """Between sets: the rest countdown, big, and the set's summary lines under it."""
    w = img.shape[1]
    _dim(img, top, bottom)
    y = top + margin
    if view.message:
        y += t.paragraph(view.message, 40, w // 2, y, int(w * 0.9), weight=700, bg=BLACK, align="center")
    if view.rest_left_s is not None:
        y += t.place(t.box("Rest", 32, 600, GREY, BLACK), w // 2, y + t.gap, "center")[1] + t.gap
        y += t.place(t.box(rest_text(view.rest_left_s), 110, 800, WHITE, BLACK), w // 2, y, "center")[1]
    y += t.gap * 2
    _summary_lines(t, view.summary, w, y, bottom)


def _summary_lines(t: _Lines, lines: Sequence[str], w: int, y: int, bottom: int) -> None:
    """As many whole summary lines as fit above ``bottom``, in order."""
    x, width = int(w * 0.08), int(w * 0.84)
    for line in lines:
        box_h = t.box("Hg", 30).shape[0]
        if y + box_h * len(wrap(line, t.px(30), 400, max(width - 2 * t.pad, 1), 2)) > bottom:
            break
        y += t.paragraph(line, 30, x, y, width, bg=BLACK, max_lines=2)


def _summary(img: Image, t: _Lines, view: LiveView, margin: int) -> None:
    """The end: the frame darkened, a title, the session's summary and what the keys do now."""
    h, w = img.shape[:2]
    _dim(img, 0, h, shift=2)
    title = "Session complete" if view.phase == "done" else "Session stopped"
    y = margin * 2
    y += t.paragraph(title, 60, w // 2, y, int(w * 0.9), weight=800, bg=BLACK, align="center", max_lines=2)
    y += t.paragraph(view.exercise, 30, w // 2, y, int(w * 0.9), fg=GREY, bg=BLACK, align="center",
                     max_lines=1) + 2 * t.gap  # fmt: skip
    if view.message:
        y += t.paragraph(view.message, 34, w // 2, y, int(w * 0.9), weight=600, fg=BLACK, bg=WARN,
                         align="center") + 2 * t.gap  # fmt: skip
    bottom = h - margin
    bottom -= _keys_help(t, view, w - margin, bottom, w)
    _summary_lines(t, view.summary, w, y, bottom)
