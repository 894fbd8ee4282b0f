"""Live coaching (``siform live``): camera frames through the same engine as review, rep by rep.

The data follows the same order as review: ``camera`` (frames, newest first, never queued) ->
``coach`` (setup gate, sets, rests, pauses; the engine's :class:`siform.pipeline.LiveSession`) ->
``state`` (what the window shows at one moment) -> ``window``/``overlay`` (drawing, keys) and
``cues``/``speech`` (one short cue at a time) -> ``journal`` (each finished rep or hold on disk at
once; the final ``session.json``).
"""
