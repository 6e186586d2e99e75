#!/bin/sh
# vigo lab: the real redis-server with protected mode off, so clients on other
# addresses (published ports) can PING it. Options given later win in redis, so
# the caller's arguments come first and a config file argument keeps working.
# --hz 1: the server's timer runs once a second instead of ten times (each run
# reads /proc/self/stat); idle, that was about half of a lab host's CPU (see
# lab/README.md, "Idle CPU").
exec /usr/bin/redis-server "$@" --protected-mode no --hz 1
