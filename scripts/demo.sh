#!/usr/bin/env bash
# Set up on a fresh machine and review a bundled sample video: a glute bridge whose third rep lets
# the left hip drop. Results (report, annotated video, session.json) go to out/bridge_raised_side/.
source "$(dirname "$0")/env.sh"
siform models
siform analyze sample_videos/bridge_raised_side.mp4 --exercise glute_bridge --out out/bridge_raised_side
