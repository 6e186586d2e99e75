#!/bin/sh
# vigo lab: the real redis-server with protected mode off, so clients on other
# addresses (published ports) can PING it. Options given later win in redis, so
# the caller's arguments come first and a config file argument keeps working.
exec /usr/bin/redis-server "$@" --protected-mode no
