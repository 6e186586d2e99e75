#!/usr/bin/env bash
# Scripted benchmark (make bench): pushes the documentation's docker-stack
# to N lab hosts, then times no-op pushes and compares them with the floor
# (one SSH handshake plus one round trip, measured with OpenSSH) and with
# the figure measured for Ansible's community.docker here: about 0.8 s per
# host per container task with pipelining on.
#
#   HOSTS=10 RUNS=5 scripts/bench.sh
#
# It brings the lab up with HOSTS hosts if it is not up with that many.
# Figures only: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--mod=mod}
HOSTS=${HOSTS:-10}
RUNS=${RUNS:-5}
LAB=/var/lib/vigo-lab

have=$(grep -c '"name":"web' "$LAB/hosts.json" 2>/dev/null || echo 0)
if [ "$have" -lt "$HOSTS" ]; then
	HOSTS=$HOSTS lab/lab up
fi
go build -o vigocli .

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/docker-stack/modules examples/docker-stack/roles "$work/"
mkdir -p "$work/envoys" && cp examples/docker-stack/envoys/nodes.vgo "$work/envoys/"
{
	echo "defaults: {user: root, identity_file: $LAB/id_ed25519, known_hosts: $LAB/known_hosts}"
	echo "hosts:"
	for i in $(seq 1 "$HOSTS"); do
		echo "  - {name: web$i.app.example.com, address: 10.77.0.$((10 + i))}"
	done
} >"$work/inventory.vgo"

export VIGO_STOCKPILE=$work VIGO_SECRETS_BACKEND=env
export VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://bench:bench@db.internal/webapp
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

echo "== converge $HOSTS hosts (first push)"
./vigocli envoys push --all >"$work/first.log" 2>&1 || { tail -20 "$work/first.log"; exit 1; }
tail -1 "$work/first.log"

echo "== floor: OpenSSH handshake + one command, one host, $RUNS runs"
t0=$(now)
for _ in $(seq 1 "$RUNS"); do
	ssh -F none -i "$LAB/id_ed25519" -o UserKnownHostsFile="$LAB/known_hosts" -o StrictHostKeyChecking=yes \
		-o BatchMode=yes root@10.77.0.11 docker info --format '{{.ID}}' >/dev/null
done
floor=$(calc "($(now) - $t0) / $RUNS")
printf 'floor (ssh + docker info): %.3f s per host\n' "$floor"

echo "== no-op push of $HOSTS hosts, $RUNS runs"
t0=$(now)
for _ in $(seq 1 "$RUNS"); do
	./vigocli envoys push --all >"$work/noop.log" 2>&1
done
total=$(calc "($(now) - $t0) / $RUNS")
grep -E 'changed=[1-9]' "$work/noop.log" && { echo "bench: the no-op push changed something" >&2; exit 1; }
containers=2 # container tasks per host in the docker-stack example
ansible=$(calc "0.8 * $containers * $HOSTS")
printf 'vigo no-op push: %.3f s for %d hosts (%.3f s per host, 4 resources each)\n' "$total" "$HOSTS" "$(calc "$total / $HOSTS")"
printf 'ansible community.docker (0.8 s per host per container task, serial estimate): %.1f s\n' "$ansible"
printf 'speed-up vs ansible: %.0fx\n' "$(calc "$ansible / $total")"
