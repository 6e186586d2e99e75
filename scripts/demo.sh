#!/usr/bin/env bash
# The README's demo command (make demo): installs what the lab needs,
# brings up local lab hosts, pushes examples/docker-stack to them in
# batches, runs the documentation's rolling task, and ends with the recap.
# Run it twice: the second run changes nothing and its last recap says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export GOFLAGS=${GOFLAGS:--mod=mod}

if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: the lab runs sshd and dockerd in network namespaces" >&2
	exit 1
fi

# step NAME CMD...: runs a step and says how long it took.
step() {
	local name=$1 t0=$SECONDS
	shift
	echo "== $name"
	"$@" || return
	echo "== $name: done in $((SECONDS - t0))s"
}

step "lab/setup (packages, Go, the compose plugin)" lab/setup
# A lab that is already up keeps its size (lab/lab up with another size
# would remove hosts): HOSTS and COMPOSE_HOSTS only size a new lab.
if [ -z "${HOSTS:-}" ] && [ -r /var/lib/vigo-lab/size ]; then
	read -r HOSTS COMPOSE_HOSTS BASTION </var/lib/vigo-lab/size
	export BASTION
fi
# A lab whose hosts are all up is used as it is (make lab-up repairs one).
read -r up total < <(lab/lab status 2>/dev/null | sed -n 's|^hosts up: \([0-9]*\)/\([0-9]*\).*|\1 \2|p') || true
if [ -e /var/lib/vigo-lab/up ] && [ -n "${up:-}" ] && [ "$up" = "$total" ]; then
	echo "== lab: $up hosts up (make lab-status; make lab-up repairs)"
else
	step "lab up (${HOSTS:-3} app hosts, ${COMPOSE_HOSTS:-1} compose host, a bastion; about 30 s cold)" \
		env HOSTS="${HOSTS:-3}" COMPOSE_HOSTS="${COMPOSE_HOSTS:-1}" lab/lab up
fi
step "go build" go build -o vigocli .

export VIGO_STOCKPILE=examples/docker-stack
# The webapp's DATABASE_URL is a secret reference. The demo supplies it
# through the environment backend (see docs/secrets.md); a team would keep
# it in the age-encrypted store with `vigocli secrets set`.
export VIGO_SECRETS_BACKEND=${VIGO_SECRETS_BACKEND:-env}
export VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=${VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL:-postgres://demo:demo@db.internal:5432/webapp}

echo
echo "== vigocli validate"
./vigocli validate
echo
# The documentation's command, no flags: the example's envoys/rollout.vgo
# rolls the app hosts one per batch behind a health check.
echo "== vigocli envoys push --all"
./vigocli envoys push --all
echo
# The documentation's rolling task, and how to tell whether it changed
# anything: docker pull says "Downloaded newer image" when it pulled.
echo "== the documentation's rolling task"
./vigocli task run \
  "docker pull myregistry.example.com/webapp:v2.2.0" \
  --target "*.app.example.com" \
  --batch-size 25% \
  --health-check "curl -sf http://localhost:8080/health" \
  --changed-when "output:Downloaded newer image"
