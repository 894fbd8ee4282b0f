"""A live session in a child process, for the crash tests of test_journal.py (run as a script).

It runs real :class:`siform.pipeline.LiveSession` sets over synthetic bridge tracks and journals
every event, printing ``ACK <set> <number> <start_ms>`` once :meth:`SessionJournal.append` has
returned (the line is on disk by then) and ``SET <n>`` once a set's end is journalled. Then:

- ``loop``: keeps appending the second set's reps again and again (the parent kills it at a moment
  it does not choose, usually inside a write or an fsync);
- ``torn``: writes the first half of one more line straight into the journal file, as a crash part
  way through a ``write`` leaves it, prints ``TORN`` and waits to be killed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from siform.live.journal import SessionJournal
from siform.pipeline import LiveSession, analyze_track, near_side
from siform.pose import PoseFrame
from siform.session import LiveSet
from siform.specs.load import find_spec

from factories import bridge_side_view


def main(folder: Path, mode: str) -> None:
    spec = find_spec("glute_bridge")
    journal = SessionJournal.create(folder, spec, patient="p1", source={"camera": 0, "width": 640})
    clock = 0
    for number, reps in ((1, 5), (2, 4)):
        track, _ = bridge_side_view(reps=reps, drop_rep=1)
        setup = analyze_track(track, spec).setup
        live = LiveSession(spec, track.width, track.height, "raised_side", near_side(track.image))
        journal.start_set(number, None, view="raised_side", setup=setup, t_ms=clock)
        for i in range(len(track)):
            t = clock + int(track.t_ms[i])
            event = live.update(PoseFrame(i, t, bool(track.found[i]), track.image[i], track.world[i]))
            if event is not None:
                journal.append(event, set_number=number)
                print(f"ACK {number} {event.rep.number} {event.rep.start_ms}", flush=True)
        clock += int(track.t_ms[-1]) + 1000
        if number == 1:
            journal.end_set(LiveSet.from_result(number, live.result(setup)))
            print(f"SET {number}", flush=True)
        else:
            events = live.finish()[0]
    if mode == "loop":
        k = 0
        while True:  # the same reps again, as fast as the disk allows, until killed
            rep = events[k % len(events)]
            journal.append(rep, set_number=2)
            print(f"ACK 2 {rep.number} {rep.start_ms}", flush=True)
            k += 1
    else:
        fd = os.open(journal.path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b'{"type":"rep","set":2,"side":null,"record":{"number":9,"sid')
        os.fsync(fd)
        print("TORN", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
