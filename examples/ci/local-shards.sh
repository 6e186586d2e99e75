#!/bin/sh
# Runs the CI recipes' shard matrix on this machine: SHARDS jobs at once,
# each `vigocli envoys push --all --shard I/SHARDS ARGS...` like one matrix
# job, each writing REPORT_DIR/junit-I.xml, report-I.html and shard-I.log.
# Exits 0 when every shard did, else with the first failing shard's code.
#
#   SHARDS=2 REPORT_DIR=/tmp/shards examples/ci/local-shards.sh --var app_tag=v2.1.0
#
# Environment: SHARDS (default 4), REPORT_DIR (default ./vigo-reports),
# VIGOCLI (default vigocli), and whatever vigocli reads (VIGO_STOCKPILE,
# VIGO_INVENTORY, VIGO_SECRETS_BACKEND, VIGO_SECRET_*).
set -eu

shards=${SHARDS:-4}
dir=${REPORT_DIR:-./vigo-reports}
vigocli=${VIGOCLI:-vigocli}

case $shards in
'' | *[!0-9]* | 0) echo "local-shards: SHARDS=$shards: want a positive number" >&2; exit 4 ;;
esac
mkdir -p "$dir"

i=1
pids=""
while [ "$i" -le "$shards" ]; do
	"$vigocli" envoys push --all --shard "$i/$shards" \
		--report "$dir/junit-$i.xml" --report-html "$dir/report-$i.html" "$@" \
		>"$dir/shard-$i.log" 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done

i=1
status=0
for pid in $pids; do
	code=0
	wait "$pid" || code=$?
	echo "shard $i/$shards: exit $code (log $dir/shard-$i.log)"
	if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
		status=$code
	fi
	i=$((i + 1))
done
exit "$status"
