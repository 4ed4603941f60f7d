#!/usr/bin/env bash
# The whole test suite, from a fresh clone: bootstraps PostgreSQL (see
# scripts/lib/db.sh), checks formatting and lints, then runs every test against
# the real database. Each test creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/db.sh

ensure_database
. scripts/lib/deploy-tools.sh
ensure_deploy_tools
. scripts/lib/replica.sh
ensure_replica
. scripts/lib/fuzz-tools.sh
ensure_schemathesis
. scripts/lib/chart-tools.sh
ensure_chart_tools

# The load reports' chart maker, on synthetic runs (a few seconds). The
# dashboard and the alert rules are checked by tests/ops/observability.rs.
echo "==> charts self-test"
charts self-test

echo "==> the layout of src/ (layers, no circle, docs name real files)"
python3 scripts/check-layout.py
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --all-targets --quiet -- "$@"
echo "==> the vendored crates' own tests (see vendor/README.md)"
cargo test -p rocket_http --lib --quiet
