#!/usr/bin/env bash
# The README's demo command (make demo): installs what the lab needs,
# brings up local lab hosts, pushes examples/docker-stack to them in
# batches, runs the documentation's rolling task, and ends with the recap.
# Run it twice: the second push changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export GOFLAGS=${GOFLAGS:--mod=mod}

if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: the lab runs sshd and dockerd in network namespaces" >&2
	exit 1
fi

lab/setup
HOSTS=${HOSTS:-3} COMPOSE_HOSTS=${COMPOSE_HOSTS:-1} lab/lab up
go build -o vigocli .

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
echo "== vigocli envoys push --all --batch-size 2"
./vigocli envoys push --all --batch-size 2
echo
echo "== the documentation's rolling task"
./vigocli task run \
  "docker pull myregistry.example.com/webapp:v2.2.0" \
  --target "*.app.example.com" \
  --batch-size 25% \
  --health-check "curl -sf http://localhost:8080/health"
