#!/usr/bin/env bash
# Import benchmark: generates a dump of N products (default: full scale,
# 1000011, ~26.7M rows), imports it with `atelier import`, then in the same
# run times the baseline on the same data: psql \copy of the clean rows into
# tables of the same definition, plus the same primary keys, indexes and
# foreign keys, and ANALYZE. Prints both times, their ratio, and the
# importer's peak RSS.
#
#   scripts/perf/bench-import.sh [N]        (DATABASE_URL as for scripts/run.sh)
#
# ATELIER_BIN=path runs that binary instead of building this checkout (see
# scripts/perf/bench-import-ab.sh); with BENCH_DIR set, a dump already there is
# reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/db.sh

products=${1:-1000011}
work=${BENCH_DIR:-$(mktemp -d /tmp/atelier-bench.XXXXXX)}
mkdir -p "$work"
ensure_database
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -qq time >/dev/null

if [ -n "${ATELIER_BIN:-}" ]; then
  bin=$ATELIER_BIN
else
  echo "==> building"
  cargo build --release --quiet
  bin=target/release/atelier
fi

if [ -e "$work/dump/product.csv" ] && [ -n "${BENCH_DIR:-}" ]; then
  echo "==> reusing the dump in $work/dump"
else
  echo "==> generating $products products into $work/dump"
  $bin generate --products "$products" --out "$work/dump" --seed 1
fi

echo "==> atelier import"
/usr/bin/time -f '%e %M' -o "$work/import.time" \
  $bin import "$work/dump" --rejects "$work/rejects.csv" --quiet | tee "$work/import.txt"
read -r import_seconds import_rss_kb < "$work/import.time"

echo "==> exporting the clean rows the import kept"
mkdir -p "$work/clean"
columns_product="id, name, slogan, description, category, default_price"
for t in product features styles photos skus related product_answers styles_answers; do
  cols='*'
  [ "$t" = product ] && cols="$columns_product"
  psql "$DATABASE_URL" -qc "\\copy (SELECT $cols FROM public.$t) TO '$work/clean/$t.csv' CSV HEADER"
done

psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
DROP SCHEMA IF EXISTS bench_baseline CASCADE;
CREATE SCHEMA bench_baseline;
CREATE TABLE bench_baseline.product (LIKE public.product INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.features (LIKE public.features INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.styles (LIKE public.styles INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.photos (LIKE public.photos INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.skus (LIKE public.skus INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.related (LIKE public.related INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE bench_baseline.product_answers (LIKE public.product_answers INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION);
CREATE TABLE bench_baseline.styles_answers (LIKE public.styles_answers INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION);
SQL

echo "==> baseline: psql \\copy + the same keys, indexes, foreign keys + ANALYZE"
cat > "$work/baseline.sql" <<SQL
\\set ON_ERROR_STOP 1
SET maintenance_work_mem = '256MB';
SET search_path = bench_baseline;
\\copy product ($columns_product) FROM '$work/clean/product.csv' CSV HEADER
\\copy styles FROM '$work/clean/styles.csv' CSV HEADER
\\copy features FROM '$work/clean/features.csv' CSV HEADER
\\copy related FROM '$work/clean/related.csv' CSV HEADER
\\copy photos FROM '$work/clean/photos.csv' CSV HEADER
\\copy skus FROM '$work/clean/skus.csv' CSV HEADER
ALTER TABLE product ADD PRIMARY KEY (id);
ALTER TABLE styles ADD PRIMARY KEY (id);
ALTER TABLE features ADD PRIMARY KEY (id);
ALTER TABLE related ADD PRIMARY KEY (id);
ALTER TABLE photos ADD PRIMARY KEY (id);
ALTER TABLE skus ADD PRIMARY KEY (id);
CREATE INDEX ON features (product_id);
CREATE INDEX ON styles (product_id);
CREATE INDEX ON photos (style_id);
CREATE INDEX ON skus (style_id);
CREATE INDEX ON related (current_product_id);
CREATE INDEX ON related (related_product_id);
ALTER TABLE features ADD FOREIGN KEY (product_id) REFERENCES product (id) ON DELETE CASCADE;
ALTER TABLE styles ADD FOREIGN KEY (product_id) REFERENCES product (id) ON DELETE CASCADE;
ALTER TABLE photos ADD FOREIGN KEY (style_id) REFERENCES styles (id) ON DELETE CASCADE;
ALTER TABLE skus ADD FOREIGN KEY (style_id) REFERENCES styles (id) ON DELETE CASCADE;
ALTER TABLE related ADD FOREIGN KEY (current_product_id) REFERENCES product (id) ON DELETE CASCADE;
ALTER TABLE related ADD FOREIGN KEY (related_product_id) REFERENCES product (id) ON DELETE CASCADE;
ANALYZE product; ANALYZE styles; ANALYZE features; ANALYZE related; ANALYZE photos; ANALYZE skus;
SQL
# The stored /products/:id and /styles answers are tables the import fills
# too: the baseline loads them as it loads the others, timed on their own.
cat > "$work/baseline-answers.sql" <<SQL
\\set ON_ERROR_STOP 1
SET maintenance_work_mem = '256MB';
SET search_path = bench_baseline;
\\copy product_answers FROM '$work/clean/product_answers.csv' CSV HEADER
ALTER TABLE product_answers ADD PRIMARY KEY (product_id);
ALTER TABLE product_answers ADD FOREIGN KEY (product_id) REFERENCES product (id) ON DELETE CASCADE;
ANALYZE product_answers;
\\copy styles_answers FROM '$work/clean/styles_answers.csv' CSV HEADER
ALTER TABLE styles_answers ADD PRIMARY KEY (product_id);
ALTER TABLE styles_answers ADD FOREIGN KEY (product_id) REFERENCES product (id) ON DELETE CASCADE;
ANALYZE styles_answers;
SQL
start=$(date +%s.%N)
psql "$DATABASE_URL" -q -f "$work/baseline.sql"
middle=$(date +%s.%N)
psql "$DATABASE_URL" -q -f "$work/baseline-answers.sql"
end=$(date +%s.%N)
tables_seconds=$(echo "$middle - $start" | bc)
answers_seconds=$(echo "$end - $middle" | bc)
baseline_seconds=$(echo "$end - $start" | bc)
psql "$DATABASE_URL" -qc "DROP SCHEMA bench_baseline CASCADE"

rows=$(awk 'NR > 1 && NF > 3 && $1 ~ /\.csv$/ {s += $2} END {print s}' "$work/import.txt")
echo
echo "rows read:          $rows"
printf 'atelier import:     %.1f s (%.0f rows/s), peak RSS %d MB\n' "$import_seconds" "$(echo "$rows / $import_seconds" | bc -l)" $((import_rss_kb / 1024))
printf 'baseline (\\copy):   %.1f s (the six tables %.1f s, the stored answers %.1f s)\n' \
  "$baseline_seconds" "$tables_seconds" "$answers_seconds"
printf 'ratio import/baseline: %.2f (against the six tables alone: %.2f)\n' \
  "$(echo "$import_seconds / $baseline_seconds" | bc -l)" "$(echo "$import_seconds / $tables_seconds" | bc -l)"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
