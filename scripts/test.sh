#!/usr/bin/env bash
# The README's test command (make test): installs what the tests need,
# brings the lab up, runs vet, every unit and end-to-end test and bounded
# fuzzing, and brings the lab down again even when tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export GOFLAGS=${GOFLAGS:--mod=mod}
start=$(date +%s)
step() { printf '\n== %s (+%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

if [ "$(id -u)" != 0 ]; then
	echo "make test needs root: the lab runs sshd and dockerd in network namespaces" >&2
	exit 1
fi

step "setup: packages and the compose plugin"
# Beside the lab's packages, what the tests use when present (and skip,
# saying why, without): Graphviz renders `vigocli graph`, Chromium opens the
# HTML report, zsh and fish run the completion scripts.
SETUP_EXTRA_PKGS="graphviz chromium zsh fish" lab/setup

step "build, vet and staticcheck"
go build -o vigocli .
make lint   # go vet and staticcheck

step "lab up"
# The end-to-end tests share out the lab's hosts by package; see lab/README.md.
HOSTS=${HOSTS:-14} COMPOSE_HOSTS=${COMPOSE_HOSTS:-1} BASTION=${BASTION:-1} lab/lab up
cleanup() {
	step "lab down"
	lab/lab down || echo "lab down failed (exit $?); lab/check-clean says what is left" >&2
}
trap cleanup EXIT

step "tests (unit and end to end, one package at a time so lab hosts are not shared)"
export CI=${CI:-true}
go test -p 1 -count=1 -timeout 45m ./...

step "bench smoke: a simulated fleet of 20 hosts, and vigo beside Ansible on one lab host"
SIZES=20 scripts/bench-scale.sh
HOSTS=1 RUNS=1 OUT=$(mktemp -d) scripts/bench.sh

step "the README's by-hand section, verbatim (example hosts web1..web3, svc1)"
BYHAND_REBUILD=0 scripts/byhand.sh

step "fuzz (bounded: a number of executions per target)"
scripts/fuzz.sh

trap - EXIT
cleanup
step "lab leftovers check"
lab/check-clean
step "done"
