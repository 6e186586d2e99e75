#!/usr/bin/env bash
# Scale benchmark (make bench-scale): vigo against a simulated fleet.
# simfleet serves N hosts on loopback (127.20.x.y:2222), each a real SSH
# server (x/crypto/ssh, host keys generated for this run and verified by
# vigo through a known_hosts file) with a fake Docker engine and vigo's
# lock protocol. For each N, vigo pushes the documentation's docker-app
# stack (4 resources per host) twice: create, then no-op. Printed per
# push: wall time, controller CPU (user+sys of the vigocli process, from
# wait4's rusage), CPU per host, max RSS, max open descriptors.
#
#   SIZES="100 1000 5000" PARALLEL= PROFILE= scripts/bench-scale.sh
#   SIZES=20 scripts/bench-scale.sh          # the smoke form CI runs
#
# PARALLEL=N passes --parallel N (empty: the whole batch at once).
# LOGS=DIR keeps every push's output there (create-N.out, noop-N.out) with
# its --verbose log (create-N.log: each connection, dial retries with their
# errors, each host's end with its phase timings). Without LOGS a failed
# push's output is still kept, in a directory the script names. A failed
# push does not stop the run: the other sizes are measured, and the script
# exits 1 at the end.
# WARM=1 adds two no-op pushes with --persist 10m after the cold ones:
# "persist" (cold, starting the holder and handing it the connections)
# and "warm" (over the held connections). Their CPU adds the holder's
# (from /proc), since the holder does the SSH work of a warm run; RSS
# and descriptors are vigocli's alone (the holder's RSS is printed).
# PROFILE=DIR writes vigocli's CPU and heap profiles of every push there
# (go tool pprof vigocli DIR/noop-1000.cpu), and with WARM=1 the
# holder's CPU profile over both --persist pushes (DIR/holder-1000.cpu):
# the holder is then started before the persist push, so that row's
# holder CPU leaves out its start (a few milliseconds).
# The fleet runs on the same machine and competes with vigo for the CPU:
# wall times are pessimistic; CPU and RSS are vigo's own.
# Figures only: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--mod=mod}
SIZES=${SIZES:-100 1000 5000}
PARALLEL=${PARALLEL:-}
PROFILE=${PROFILE:-}
LOGS=${LOGS:-}
WARM=${WARM:-}

# Every host is a listener and a connection on the fleet's side, and a
# connection on vigo's side: raise the descriptor limit (root may raise
# the hard limit too).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
fleet=
cleanup() {
	if [ -n "$fleet" ]; then kill "$fleet" 2>/dev/null || true; wait "$fleet" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
# holder_cpu prints the user+system CPU seconds of process $1 so far.
holder_cpu() {
	awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
go build -o "$work/vigocli" .
go build -o "$work/simfleet" ./cmd/simfleet
[ -z "$PROFILE" ] || { mkdir -p "$PROFILE"; cp "$work/vigocli" "$PROFILE/vigocli"; }
[ -z "$LOGS" ] || mkdir -p "$LOGS"
failed= kept=$LOGS
# keep copies a push's output (and log) out of the work directory, which
# is removed at the end.
keep() {
	[ -n "$kept" ] || kept=$(mktemp -d "${TMPDIR:-/tmp}/bench-scale-logs.XXXXXX")
	cp "$@" "$kept/"
}

sp=$work/stockpile
mkdir -p "$sp/envoys"
cp -r examples/docker-stack/modules examples/docker-stack/roles "$sp/"
cp examples/docker-stack/envoys/nodes.vgo "$sp/envoys/"
export VIGO_STOCKPILE=$sp VIGO_SECRETS_BACKEND=env SSH_AUTH_SOCK=
export VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://bench:bench@db.internal/webapp
args=(envoys push --all)
[ -z "$PARALLEL" ] || args+=(--parallel "$PARALLEL")

echo "controller: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), descriptors $(ulimit -n), vigocli $(git describe --always --dirty 2>/dev/null || echo dev), parallel ${PARALLEL:-whole batch}"
printf '%-7s %-7s %9s %9s %12s %10s %8s %5s\n' hosts push wall_s cpu_s cpu_ms/host max_rss_mb max_fds exit
for n in $SIZES; do
	dir=$work/fleet-$n
	mkdir -p "$dir"
	"$work/simfleet" serve -hosts "$n" -dir "$dir" >"$dir/serve.out" 2>"$dir/serve.err" &
	fleet=$!
	for _ in $(seq 1 600); do
		grep -q '^ready' "$dir/serve.out" 2>/dev/null && break
		kill -0 "$fleet" 2>/dev/null || { cat "$dir/serve.err" >&2; exit 1; }
		sleep 0.1
	done
	grep -q '^ready' "$dir/serve.out" || { echo "bench-scale: the fleet of $n did not start" >&2; exit 1; }
	cp "$dir/inventory.vgo" "$sp/inventory.vgo"
	created=
	for phase in create noop; do
		prof=() logs=()
		[ -z "$PROFILE" ] || prof=(--cpuprofile "$PROFILE/$phase-$n.cpu" --memprofile "$PROFILE/$phase-$n.mem")
		[ -z "$LOGS" ] || logs=(--verbose --log-file "$dir/$phase-$n.log")
		m=$("$work/simfleet" measure -out "$dir/$phase-$n.out" -- "$work/vigocli" "${prof[@]}" "${logs[@]}" "${args[@]}")
		read -r code wall user sys rss fds < <(echo "$m" | sed 's/[{}"]//g; s/[a-z_]*://g; s/,/ /g')
		awk -v n="$n" -v p="$phase" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v f="$fds" -v c="$code" \
			'BEGIN { printf "%-7d %-7s %9.2f %9.2f %12.2f %10.1f %8d %5d\n", n, p, w, u+s, (u+s)*1000/n, r/1024, f, c }'
		if [ "$code" != 0 ]; then
			failed=1
			keep "$dir/$phase-$n".*
			tail -5 "$dir/$phase-$n.out" >&2
			echo "bench-scale: the $phase push of $n hosts failed (exit $code): its output is kept in $kept" >&2
		elif [ -n "$LOGS" ]; then
			keep "$dir/$phase-$n".*
		fi
		[ "$phase" != create ] || [ "$code" != 0 ] || created=1
		if [ "$phase" = noop ] && [ -n "$created" ] && grep -qE 'changed=[1-9]' "$dir/$phase-$n.out"; then
			echo "bench-scale: the no-op push of $n hosts changed something" >&2; failed=1
		fi
	done
	if [ -n "$WARM" ]; then
		rt=$dir/holder holder=
		if [ -n "$PROFILE" ]; then
			# the holder started here, to profile it (else the persist
			# push starts it); its profile is written when it ends
			VIGO_RUNTIME_DIR=$rt setsid "$work/vigocli" --cpuprofile "$PROFILE/holder-$n.cpu" connections hold </dev/null >/dev/null 2>&1 &
			holder=$!
			for _ in $(seq 1 100); do [ -S "$rt/holder.sock" ] && break; sleep 0.05; done
			if ! [ -S "$rt/holder.sock" ] || ! kill -0 "$holder" 2>/dev/null; then
				echo "bench-scale: the profiled holder did not start; the persist push starts one, not profiled" >&2
				holder=
			fi
		fi
		for phase in persist warm; do
			prof=()
			[ -z "$PROFILE" ] || prof=(--cpuprofile "$PROFILE/$phase-$n.cpu" --memprofile "$PROFILE/$phase-$n.mem")
			h0=0
			[ -z "$holder" ] || h0=$(holder_cpu "$holder")
			m=$(VIGO_RUNTIME_DIR=$rt "$work/simfleet" measure -out "$dir/$phase-$n.out" -- "$work/vigocli" "${args[@]}" --persist 10m "${prof[@]}")
			read -r code wall user sys rss fds < <(echo "$m" | sed 's/[{}"]//g; s/[a-z_]*://g; s/,/ /g')
			# the holder this run's vigocli started (its path is this run's)
			[ -n "$holder" ] || holder=$(pgrep -f -x "$work/vigocli connections hold" | head -1) || true
			h1=$(holder_cpu "$holder")
			if [ -z "$holder" ]; then
				echo "bench-scale: no holder found: the $phase row's CPU is vigocli's alone" >&2
			elif [ "$(echo "$h1 < $h0" | bc)" = 1 ]; then
				echo "bench-scale: the holder ended during the $phase push: that row's CPU is vigocli's alone" >&2
				h1=$h0
			fi
			awk -v n="$n" -v p="$phase" -v w="$wall" -v u="$user" -v s="$sys" -v h="$(echo "$h1 - $h0" | bc)" -v r="$rss" -v f="$fds" -v c="$code" \
				'BEGIN { printf "%-7d %-7s %9.2f %9.2f %12.2f %10.1f %8d %5d  (holder CPU %.2f s)\n", n, p, w, u+s+h, (u+s+h)*1000/n, r/1024, f, c, h }'
			if [ "$code" != 0 ]; then
				failed=1
				keep "$dir/$phase-$n".*
				echo "bench-scale: the $phase push of $n hosts failed (exit $code): its output is kept in $kept" >&2
			fi
		done
		[ -z "$holder" ] || echo "holder of $n hosts: max RSS $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$holder/status")"
		VIGO_RUNTIME_DIR=$rt "$work/vigocli" connections close --all >/dev/null 2>&1 || true
		if [ -n "$holder" ]; then
			kill "$holder" 2>/dev/null || true
			wait "$holder" 2>/dev/null || true # ours when PROFILE started it: its profile is complete
		fi
	fi
	kill "$fleet"; wait "$fleet" 2>/dev/null || true; fleet=
	if [ -s "$dir/serve.err" ]; then echo "fleet of $n said:" >&2; sort "$dir/serve.err" | uniq -c | head -5 >&2; fi
done
[ -z "$failed" ]
