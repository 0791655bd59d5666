# bulkprov — build, run and test. `make run` and `make test` install what
# they need first (npm packages from package-lock.json, Go modules).

SHELL := /bin/bash
GO ?= go
FUNCTIONS := ingest create-records write-provisioning send-welcome finalize portal-api sip-lookup
LAMBDA_DIR := bin/lambda
TENANT ?= acme
OUT ?= out
SAMPLE ?= events/uploads/acme-users.csv
STAGE ?= dev
# Keep the CDK CLI quiet and offline-friendly (no version check, no telemetry, Node 20 warning off).
export CDK_DISABLE_VERSION_CHECK := true
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
CDK := node_modules/.bin/cdk
CFN_TEMPLATES ?= cdk.out/*.template.json

.PHONY: all deps system-deps build package run test test-go lint bench fuzz synth cfn-lint deploy clean

all: build

# node_modules/.package-lock.json is rewritten by every npm ci, so it is a
# cheap stamp for "the lockfile has been installed".
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json
	$(GO) mod download

build: deps
	@for f in $(FUNCTIONS); do \
	  echo "build $$f (linux/arm64)"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" \
	    -o $(LAMBDA_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# Zips for uploading by hand; CDK zips the bootstrap folders itself.
package: build
	@for f in $(FUNCTIONS); do (cd $(LAMBDA_DIR)/$$f && rm -f ../$$f.zip && zip -qX ../$$f.zip bootstrap) || exit 1; done
	@ls -l $(LAMBDA_DIR)/*.zip

run: deps
	$(GO) run ./cmd/bulkprov run --tenant $(TENANT) --out $(OUT) --create-dids $(SAMPLE)

# Chromium, Kamailio, baresip, cfn-lint when missing (the same script as .ci/run).
system-deps:
	@bash .ci/install-deps

test: deps system-deps build lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) synth cfn-lint

lint: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Benchmarks, each against a baseline measured in the same run; raw output in
# $(OUT)/bench.txt, the Markdown table (as in BENCHMARKS.md) in $(OUT)/bench.md.
# The 100k-row end-to-end run takes minutes on 2 cores; BULKPROV_E2E_ROWS=1000,10000
# skips it. Benchmarks never run in `make test`.
bench: deps
	@mkdir -p $(OUT)
	set -o pipefail; { \
	  $(GO) test -run='^$$' -bench=. -benchtime=1x -timeout=60m ./internal/csvin && \
	  $(GO) test -run='^$$' -bench=. -benchtime=20x -timeout=60m ./internal/records && \
	  $(GO) test -run='^$$' -bench=. -timeout=60m ./internal/provision ./internal/local/stepfn ./internal/local/devstack && \
	  $(GO) test -run='^$$' -bench='LambdaInit' -benchtime=10x ./internal/measure/e2ebench && \
	  $(GO) test -run='^$$' -bench='Validate|Pipeline' -benchtime=1x -timeout=120m ./internal/measure/e2ebench; \
	} 2>&1 | tee $(OUT)/bench.txt
	$(GO) run ./cmd/benchtable -date $$(date -u +%F) < $(OUT)/bench.txt | tee $(OUT)/bench.md

# Lambda package sizes and init times (host build, local runtime API stand-in).
.PHONY: lambda-size
lambda-size: deps
	$(GO) test -run='^$$' -bench='LambdaInit' -benchtime=10x ./internal/measure/e2ebench | $(GO) run ./cmd/benchtable

fuzz: deps
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzztime=$${FUZZTIME:-5m} ./internal/csvin

synth: deps build
	$(CDK) synth -c stage=$(STAGE) --quiet > /dev/null
	@echo "synth ok: cdk.out/"

# cfn-lint on the synthesized templates: any error fails, warnings are listed.
# (Exit status is a bit mask: 2 errors, 4 warnings, 8 informational.)
cfn-lint:
	@set +e; out=$$(cfn-lint --format parseable $(CFN_TEMPLATES)); rc=$$?; set -e; \
	  if [ -n "$$out" ]; then echo "$$out"; fi; \
	  if [ $$((rc & 3)) -ne 0 ]; then echo "cfn-lint: errors (exit $$rc)"; exit 1; fi; \
	  echo "cfn-lint ok: $$(ls $(CFN_TEMPLATES) | wc -l) template(s), $$(printf '%s' "$$out" | grep -c . || true) warning(s)"

deploy: deps build
	$(CDK) deploy -c stage=$(STAGE) --require-approval never --outputs-file cdk.out/outputs-$(STAGE).json

clean:
	rm -rf bin cdk.out $(OUT)
