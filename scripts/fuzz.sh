#!/usr/bin/env bash
# Bounded fuzzing (make fuzz, and make test's last step): each target for
# a number of executions, about 20 s apiece on the 2-core CI machine.
#
#   scripts/fuzz.sh                  # every target, its own budget
#   FUZZTIME=1000000x scripts/fuzz.sh   # every target for a million executions
#
# (A duration such as FUZZTIME=2m works too, with the risk below.)
#
# Counts, not durations: with a duration, Go 1.26's fuzzing coordinator can
# fail a target that found nothing, with a bare "context deadline exceeded"
# as -fuzztime runs out (a race between its deadline and its workers'
# context; golang/go#75804, fixed in Go 1.27). CI hit it on FuzzParse at
# the 20 s mark; a count has no deadline to race.
# -fuzzminimizetime bounds the minimisation of new inputs, which otherwise
# eats most of the budget (execs stall at 0/sec for seconds at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export GOFLAGS=${GOFLAGS:--mod=mod}
fuzz() { go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" -fuzzminimizetime 5s "$2"; }
# Budgets: about what 20 s reached in CI runs (31k-57k, 341k-485k,
# 270k-359k and 193k-276k executions).
fuzz FuzzLoad ./stockpile 40000x
fuzz FuzzRender ./template 400000x
fuzz FuzzParse ./inventory 300000x
fuzz FuzzResolveDir ./transport 200000x
