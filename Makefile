# Docent's developer commands. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# staticcheck, pinned; installed from the Go module proxy into .bin/ on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .bin/staticcheck-$(STATICCHECK_VERSION)

# The database URL printed by scripts/db.sh (the private cluster, or DOCENT_DATABASE_URL).
DB_URL = $$(scripts/db.sh | sed -n 's/^DOCENT_DATABASE_URL=//p')

.PHONY: help db db-down db-reset build test lint bench fuzz run

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

db: ## Start PostgreSQL + pgvector (installing what is missing) and print DOCENT_DATABASE_URL
	@scripts/db.sh up

db-down: ## Stop the local PostgreSQL (and its hot standby and PgBouncer, when running)
	@scripts/db.sh down

db-reset: ## Stop the local PostgreSQL and delete its data
	@scripts/db.sh reset

build: ## Build bin/ingest and bin/server
	$(GO) build -trimpath -o bin/ ./cmd/...

test: ## Run every test with the race detector against a real PostgreSQL (and PgBouncer, a disposable hot standby), a headless Chromium, Node.js, Tesseract OCR and LibreOffice (installed first when missing)
	@url=$(DB_URL); chromium=$$(scripts/chromium.sh); scripts/node.sh >/dev/null; scripts/ocr.sh >/dev/null; scripts/libreoffice.sh >/dev/null; \
	bouncer=$${DOCENT_TEST_PGBOUNCER_URL:-}; \
	if [ -z "$$bouncer" ] && [ -z "$${DOCENT_DATABASE_URL:-}" ]; then bouncer=$$(scripts/db.sh pgbouncer | sed -n 's/^DOCENT_PGBOUNCER_URL=//p'); fi; \
	standby=$${DOCENT_TEST_REPLICA_URL:-}; \
	if [ -z "$$standby" ] && [ -z "$${DOCENT_DATABASE_URL:-}" ]; then standby=$$(scripts/db.sh test-replica | sed -n 's/^DOCENT_TEST_REPLICA_URL=//p'); fi; \
	DOCENT_DATABASE_URL="$$url" DOCENT_CHROMIUM="$$chromium" DOCENT_TEST_PGBOUNCER_URL="$$bouncer" DOCENT_TEST_REPLICA_URL="$$standby" $(GO) test -race ./...

lint: $(STATICCHECK) ## Check formatting (gofmt), go vet and staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p .bin
	GOBIN=$(CURDIR)/.bin/tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv .bin/tmp/staticcheck $@ && rmdir .bin/tmp

bench: ## Run the benchmarks against a real PostgreSQL
	@url=$(DB_URL); DOCENT_DATABASE_URL="$$url" $(GO) test -run '^$$' -bench . -benchmem ./...

fuzz: ## Fuzz every parser for FUZZTIME each (default 10m), FUZZJOBS at a time (scripts/fuzz.sh)
	@scripts/fuzz.sh -t $${FUZZTIME:-10m} -j $${FUZZJOBS:-1}

run: build ## Start PostgreSQL, migrate, ingest the demo corpus, create demo keys and start the server
	@scripts/run.sh
