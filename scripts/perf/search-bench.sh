#!/usr/bin/env bash
# Search on the full-scale catalog, uncached (ATELIER_CACHE_ENABLED=false:
# every request reads PostgreSQL), by query class, with queries drawn from
# the catalog's own vocabulary (the table search.words: each word and how
# many texts hold it):
#   top        the most common word (stop words aside), page 1
#   common     the 50 most common words (stop words aside)
#   rare       words in at most 5 texts
#   two-word   two words of one product's name
#   prefix     the first 4 letters of a common word, as typed in a search box
#   misspelt   a word of 7 letters or more with one letter dropped (not itself
#              a word of the catalog), which the service corrects
#   filtered   a common word with a category and a price range
#   facets     /categories?q= a common word
# For each class: p50 and p99 one request at a time (the cost of one search)
# and RPS with CONNECTIONS at once; beside them, uncached /products/:id with
# uniform random ids measured in the same run (before and after the classes,
# averaged), and each class's RPS as a ratio of it.
#
#   scripts/perf/search-bench.sh      DURATION=8s CONNECTIONS=16 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-16}
LOGDIR=$(mktemp -d /tmp/atelier-search.XXXXXX)

prepare_load_run

echo "==> queries from the catalog's vocabulary"
export PGOPTIONS='-c statement_timeout=0'
# Stop words ("you", "the") are in no index: a query of one finds nothing
# at once, so they are left out of the classes.
searchable="numnode(plainto_tsquery('search.english_unaccent', word)) > 0"
top=$(psql "$DATABASE_URL" -tAc "SELECT word FROM search.words WHERE $searchable
                                 ORDER BY texts DESC, word LIMIT 1")
psql "$DATABASE_URL" -tAc "SELECT word, texts FROM search.words WHERE $searchable
                           ORDER BY texts DESC, word LIMIT 50" > "$LOGDIR/common.tsv"
psql "$DATABASE_URL" -tAc "SELECT word FROM search.words WHERE texts <= 5 AND length(word) >= 4
                           ORDER BY md5(word) LIMIT 5000" > "$LOGDIR/rare.txt"
psql "$DATABASE_URL" -tAc "SELECT word FROM search.words WHERE texts >= 50 AND length(word) >= 7
                           ORDER BY md5(word) LIMIT 5000" > "$LOGDIR/long.txt"
psql "$DATABASE_URL" -tAc "SELECT word FROM search.words" > "$LOGDIR/vocabulary.txt"
psql "$DATABASE_URL" -tAc "SELECT name FROM product WHERE id IN (
                             SELECT (1 + (g * 7919) % $FULL_SCALE) FROM generate_series(1, 5000) g)" \
  > "$LOGDIR/names.txt"
psql "$DATABASE_URL" -tAc "SELECT category FROM search.category_prices GROUP BY category
                           ORDER BY sum(products) DESC LIMIT 20" > "$LOGDIR/categories.txt"

python3 - "$LOGDIR" "$BASE" "$top" <<'PY'
import random, re, sys, urllib.parse as up
out, base, top = sys.argv[1], sys.argv[2], sys.argv[3]
rng = random.Random(1)
lines = lambda name: [l.strip() for l in open(f"{out}/{name}") if l.strip()]
common = [l.split("|")[0] for l in lines("common.tsv")]
vocabulary = set(lines("vocabulary.txt"))
q = lambda text: up.quote(text, safe="")
def write(name, paths):
    with open(f"{out}/{name}.txt", "w") as f:
        f.writelines(f"{base}{p}\n" for p in paths)
    print(f"{name:<9} {len(paths):>5} queries, e.g. {paths[0]}")
write("top", [f"/products?q={q(top)}"])
write("common", [f"/products?q={q(w)}" for w in common])
write("rare", [f"/products?q={q(w)}" for w in lines("rare.txt")])
pairs = []
for name in lines("names.txt"):
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", name)]
    if len(words) >= 2:
        a, b = sorted(rng.sample(range(len(words)), 2))
        pairs.append(f"{words[a]} {words[b]}")
write("two-word", [f"/products?q={q(p)}" for p in pairs])
prefixes = sorted({w[:4] for w in common if len(w) >= 6 and w[:4] not in vocabulary})
write("prefix", [f"/products?q={q(p)}" for p in prefixes])
misspelt = []
for w in lines("long.txt"):
    i = rng.randrange(1, len(w) - 1)
    m = w[:i] + w[i + 1:]
    if m not in vocabulary:
        misspelt.append(m)
write("misspelt", [f"/products?q={q(m)}" for m in misspelt])
categories = lines("categories.txt")
filtered = []
for w in common:
    for c in rng.sample(categories, 3):
        lo = rng.choice([0, 10, 50, 100])
        filtered.append(f"/products?q={q(w)}&category={q(c)}&min_price={lo}&max_price={lo + 400}")
write("filtered", filtered)
write("facets", [f"/categories?q={q(w)}" for w in common])
PY

CLASSES="top common rare two-word prefix misspelt filtered facets"
# run NAME CONNECTIONS FILE: "rps p50 p90 p99 max errors%".
run() {
  oha_json "$LOGDIR/$1-$2.json" -c "$2" -z "$DURATION" --urls-from-file "$3"
  oha_summary "$LOGDIR/$1-$2.json"
}

start_server uncached DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false
echo "==> warming PostgreSQL's buffers with every class"
for c in $CLASSES; do
  oha_json /dev/null -c "$CONNECTIONS" -z 3s --urls-from-file "$LOGDIR/$c.txt"
done

read -r base_before _ < <(run baseline-before "$CONNECTIONS" "$URLS/uniform-product.txt")
declare -A RPS P50 P99 ERR
for c in $CLASSES; do
  echo "==> $c"
  read -r _ p50 _ p99 _ err < <(run "$c" 1 "$LOGDIR/$c.txt")
  read -r rps _ _ _ _ err_many < <(run "$c" "$CONNECTIONS" "$LOGDIR/$c.txt")
  RPS[$c]=$rps P50[$c]=$p50 P99[$c]=$p99 ERR[$c]="$err / $err_many"
done
read -r base_after _ < <(run baseline-after "$CONNECTIONS" "$URLS/uniform-product.txt")
read -r _ base_p50 _ base_p99 _ _ < <(run baseline-one 1 "$URLS/uniform-product.txt")
base=$(python3 -c "print(round(($base_before + $base_after) / 2))")

commit=$(git rev-parse --short HEAD)
echo
echo "Search, uncached, full scale ($(psql "$DATABASE_URL" -tAc 'SELECT count(*) FROM product') products), commit $commit"
echo "the most common word: \"$top\"; p50/p99 one request at a time, RPS with $CONNECTIONS connections"
echo "baseline: uncached /products/:id (uniform random ids) $base RPS ($base_before before, $base_after after), p50 $base_p50 ms, p99 $base_p99 ms"
printf '%-9s %9s %9s %8s %17s %s\n' class "p50 ms" "p99 ms" RPS "/ /products/:id" "errors % (1 / many)"
for c in $CLASSES; do
  printf '%-9s %9s %9s %8s %17s %s\n' "$c" "${P50[$c]}" "${P99[$c]}" "${RPS[$c]}" \
    "$(python3 -c "print(f'{${RPS[$c]} / $base:.2f}')")" "${ERR[$c]}"
done
echo "goals: top p99 <= 50 ms, every class p50 <= 10 ms"
