# vigo — the two commands of the README are `make demo` and `make test`.
GO      ?= go
HOSTS   ?= 3
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test unit lint vet fuzz demo lab-setup lab-up lab-down lab-status bench bench-scale clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o vigocli .

## test: everything CI runs: setup, lab up, vet, unit + end-to-end tests, fuzz, lab down
test:
	scripts/test.sh

## unit: the tests that need no lab (lab tests skip with a reason)
unit: lint
	$(GO) test ./...

## lint: go vet and staticcheck (pinned; fetched from the Go module proxy, includes the U1000 dead-code check)
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

vet:
	$(GO) vet ./...

## fuzz: every fuzz target for a bounded number of executions (FUZZTIME=1000000x for more)
fuzz:
	scripts/fuzz.sh

## demo: install what is needed, bring the lab up, push examples/docker-stack, run the doc's task
demo:
	scripts/demo.sh

lab-setup:
	lab/setup

lab-up:
	HOSTS=$(HOSTS) lab/lab up

lab-down:
	lab/lab down

lab-status:
	lab/lab status

## bench: vigo and Ansible side by side on lab hosts, with the login, warm and engine floors (HOSTS="10 50" FIRST=15 RUNS=1; default HOSTS=4 FIRST=11 RUNS=3); CSV, facts, tables, per-host phases and chart under docs/bench/
bench:
	scripts/bench.sh

## bench-scale: vigo against a simulated fleet (SIZES="100 1000 5000" PARALLEL= PROFILE=DIR LOGS=DIR WARM=1)
bench-scale:
	scripts/bench-scale.sh

clean:
	rm -f vigocli
