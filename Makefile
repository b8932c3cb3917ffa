# Everyday commands; .ci/run is the whole CI. `make help` lists the targets.
GO       ?= go
# The project's Go (go.mod's toolchain line); the go command fetches it when the machine's is older.
export GOTOOLCHAIN := go1.27.3
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
POSTGRES ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: help build run test test-postgres race vet fmt fmt-check tidy-check staticcheck vuln cover docs ci

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build ./crowdgate (static, version stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o crowdgate ./cmd/crowdgate

run: ## run the server with SQLite in ./data
	$(GO) run ./cmd/crowdgate

test: ## tests on SQLite
	$(GO) test -count=1 ./...

test-postgres: ## tests on PostgreSQL only (POSTGRES=url of a server where the user may create databases); make test runs SQLite
	CROWDGATE_TEST_POSTGRES='$(POSTGRES)' CROWDGATE_TEST_DIALECT=postgres $(GO) test -count=1 ./...

race: ## the CI's test command, on SQLite
	$(GO) test -race -count=1 ./...

vet: ## go vet
	$(GO) vet ./...

fmt: ## format the code
	gofmt -w .

fmt-check: ## fail if any file is not gofmt-formatted
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

tidy-check: ## show what go mod tidy would change, without changing anything
	$(GO) mod tidy -diff

staticcheck: ## staticcheck, the version .ci/run pins
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$$(sed -n 's/^STATICCHECK_VERSION=//p' .ci/run) ./...

vuln: ## govulncheck against the offline database (built by .ci/run into .vulndb/)
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0 -db file://$(CURDIR)/.vulndb/db ./...

cover: ## coverage report in cover.html
	$(GO) test -count=1 -coverprofile=cover.out ./... && $(GO) tool cover -html=cover.out -o cover.html

docs: ## regenerate docs/configuration.md, the configuration reference
	$(GO) test ./cmd/crowdgate -run TestConfigDocs -update

ci: ## the whole CI
	.ci/run
