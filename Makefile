# Herald's developer commands. `make test` is the one CI runs.
GO      ?= go
BUF     := $(GO) tool -modfile=tools/go.mod buf
PKGS    ?= ./...

.PHONY: all build run test test-infra stop-infra generate lint bench clean

all: build

build:
	$(GO) build -trimpath -o bin/herald ./cmd/herald

run:
	$(GO) run ./cmd/herald serve

# Starts the real servers the tests need (only those not already listening),
# then runs every test with the race detector — the end-to-end package on
# its own afterwards, as its crash tests load both cores for minutes and
# would starve the timing of the others; then, one package at a time, the
# tests that restart a real server to prove an adapter survives it.
test: test-infra
	$(GO) vet $(PKGS)
	env $$(scripts/test-infra.sh env) $(GO) test -race -count=1 -timeout 12m $$($(GO) list $(PKGS) | grep -v '/e2e$$')
	env $$(scripts/test-infra.sh env) $(GO) test -race -count=1 -timeout 12m ./e2e/
	env $$(scripts/test-infra.sh env) HERALD_TEST_RESTARTS=1 $(GO) test -race -count=1 -p 1 -timeout 10m -run Restart $(PKGS)
	cd bench && $(GO) vet ./... && env $$(../scripts/test-infra.sh env) $(GO) test -race -count=1 ./...

test-infra:
	scripts/test-infra.sh

stop-infra:
	scripts/test-infra.sh stop

# Regenerates gen/ from proto/ with buf and the pinned local plugins.
generate:
	$(BUF) lint
	$(BUF) generate

lint:
	$(GO) vet $(PKGS)
	$(BUF) lint

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
