#!/usr/bin/env bash
# Set up on a fresh machine and run siform on a bundled sample video.
source "$(dirname "$0")/env.sh"
siform models
siform pose sample_videos/bridge_raised_side.mp4 -o out/bridge_raised_side/landmarks.npz
