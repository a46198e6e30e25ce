# boxoffice: `make run` serves the demo, `make test` runs every test.
# Both start private PostgreSQL and Redis for this checkout (scripts/services.sh).

SERVICES := scripts/services.sh
ENV := eval "$$($(SERVICES) env)"

.PHONY: run test fuzz services stop lint bench rehearse cluster cluster-stop cluster-restart cluster-test

run: services
	@$(ENV); export BOXOFFICE_ENV=development; cargo build --bin boxoffice && \
	  ./target/debug/boxoffice migrate && \
	  ./target/debug/boxoffice demo && \
	  echo "" && \
	  echo "  boxoffice is up:  http://127.0.0.1:8080/events" && \
	  echo "  a seat map:       http://127.0.0.1:8080/events/1/seats" && \
	  echo "  a venue layout:   http://127.0.0.1:8080/venues/1/layout" && \
	  echo "  health:           http://127.0.0.1:8080/readyz   metrics: /metrics" && \
	  echo "  (Ctrl-C stops the server; 'make stop' stops PostgreSQL and Redis)" && \
	  echo "" && \
	  exec ./target/debug/boxoffice serve

# The browser test runs the server binary `cargo test --workspace` has just
# built (BOXOFFICE_BIN), so the tree is compiled once, not twice.
test: services
	@$(ENV); BOXOFFICE_ENV=test cargo test --workspace
	@scripts/web-test.sh
	@$(ENV); BOXOFFICE_BIN=$${CARGO_TARGET_DIR:-target}/debug/boxoffice scripts/api-fuzz.sh
	@$(ENV); BOXOFFICE_BIN=$${CARGO_TARGET_DIR:-target}/debug/boxoffice scripts/rehearse.sh smoke
	@$(ENV); BOXOFFICE_BIN=$${CARGO_TARGET_DIR:-target}/debug/boxoffice scripts/browser-test.sh
	@$(ENV); BOXOFFICE_BIN=$${CARGO_TARGET_DIR:-target}/debug/boxoffice scripts/cluster-test.sh

services:
	@$(SERVICES) start

stop:
	@$(SERVICES) stop

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	load/bench.sh

# schemathesis against the OpenAPI document, many more cases than `make test`
# runs (about fifteen minutes): before a release.
fuzz: services
	@scripts/api-fuzz.sh full

# A two-minute on-sale rehearsal under faults; prints where its report is.
rehearse: services
	@scripts/rehearse.sh

# Three nodes behind nginx (deploy/nginx.conf) on :8080 (BOXOFFICE_CLUSTER_PORT),
# the nodes on 8081-8083 (BOXOFFICE_CLUSTER_NODE_PORTS). See docs/deploy.md.
cluster: services
	@$(ENV); export BOXOFFICE_ENV=development; cargo build --bin boxoffice && \
	  ./target/debug/boxoffice migrate && \
	  ./target/debug/boxoffice demo && \
	  scripts/cluster.sh start && \
	  echo "" && \
	  echo "  boxoffice cluster is up:  http://127.0.0.1:$${BOXOFFICE_CLUSTER_PORT:-8080}/  (nginx, 3 nodes)" && \
	  echo "  'make cluster-restart' restarts the nodes one by one; 'make cluster-stop' stops it" && \
	  echo ""

cluster-stop:
	@$(ENV); scripts/cluster.sh stop

# Rolling restart: each node drains (SIGTERM), starts again, is ready before the next.
cluster-restart:
	@$(ENV); scripts/cluster.sh restart

# The rolling-restart and kill -9 drills through nginx (part of `make test`).
cluster-test: services
	@$(ENV); BOXOFFICE_BIN=$${CARGO_TARGET_DIR:-target}/debug/boxoffice scripts/cluster-test.sh
