#!/usr/bin/env bash
# From a fresh clone to a served API: bootstraps PostgreSQL (see
# scripts/lib/db.sh), builds the release binary, seeds an empty database with a
# generated demo dump (DEMO_PRODUCTS, default 10000 products), and serves the
# API on ROCKET_PORT (default 3000). Running it again reuses everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/db.sh

ensure_database

echo "==> building the release binary"
cargo build --release --quiet
bin=target/release/atelier

demo=target/demo-dump
products=${DEMO_PRODUCTS:-10000}
if [ ! -f "$demo/.products-$products" ]; then
  echo "==> generating a demo dump of $products products"
  rm -rf "$demo"
  $bin generate --products "$products" --out "$demo" --seed 1
  touch "$demo/.products-$products"
fi
echo "==> seeding the database if it is empty"
$bin import "$demo" --if-empty --rejects target/demo-rejects.csv
# A database loaded before a migration added a kind of stored answer has
# none of that kind: store them (nothing to do after an import).
$bin answers refresh --missing

echo "==> serving on http://localhost:${ROCKET_PORT:-3000} (Ctrl-C stops)"
exec $bin serve
