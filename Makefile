# mirrorsteer: the two commands are `make demo` and `make test`.
GO      ?= go
BIN     := bin/mirrorsteer
DEMO    := demo
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test vet fmt-check demo demo-stop bench fuzz fuzz-list clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/mirrorsteer

# Everything CI runs: formatting, vet, and every test with the race detector.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi

# The built-in demo. First the example network (42 fictional mirrors):
# check, and the policy's answers for a few clients located with a small
# GeoIP database. Then the whole pipeline on this machine (cmd/demo): an
# origin and a dozen local mirrors on 127.0.0.x that misbehave in
# different ways, probed with the real binary, gen into out/, lookups.
demo: build
	@mkdir -p $(DEMO)/geoip
	$(GO) run ./internal/geo/geotest/cmd/mkgeoip $(DEMO)/geoip
	./$(BIN) check -c mirrors.toml
	@for ip in 81.1.2.3 125.236.1.1 106.3.1.1 198.51.100.7 2001:db8:82::1; do \
		echo; echo "== mirrorsteer lookup --ip $$ip --repo baseos --release 9 --arch x86_64"; \
		./$(BIN) lookup -c mirrors.toml --geoip-city $(DEMO)/geoip/GeoIP2-City.mmdb --geoip-asn $(DEMO)/geoip/GeoLite2-ASN.mmdb \
			--ip $$ip --repo baseos --release 9 --arch x86_64 || exit 1; \
	done
	@echo; echo "== mirrorsteer lookup --country NZ (no mirror in NZ; [policy.neighbours] NZ = AU, SG, JP)"
	./$(BIN) lookup -c mirrors.toml --country NZ
	$(GO) run ./cmd/demo -bin $(BIN) -dir $(DEMO)/local -out out -geoip $(DEMO)/geoip

# Stop the dnsd that make demo leaves running for dig.
demo-stop:
	@if [ -f $(DEMO)/dnsd.pid ]; then kill $$(cat $(DEMO)/dnsd.pid) 2>/dev/null; rm -f $(DEMO)/dnsd.pid; fi

bench:
	./bench/gen.sh

# Every fuzz target in the repository, FUZZTIME each, one after another
# (go test fuzzes one target at a time). They are found in the test
# files, so a new one is fuzzed without editing this file; fuzz-list
# prints them ("package target"). An input that fails is kept under the
# package's testdata/fuzz/ and runs with every go test from then on.
FUZZTIME ?= 30s

fuzz-list:
	@grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata '^func Fuzz' . | sort | while read -r f; do \
		sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f" | sed "s|^|$$(dirname "$$f") |"; \
	done

fuzz:
	@$(MAKE) -s --no-print-directory fuzz-list | while read -r pkg target; do \
		echo "== $$pkg $$target ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$pkg" || exit 1; \
	done

clean: demo-stop
	rm -rf bin $(DEMO) out .out.trees
