#!/usr/bin/env bash
# Import benchmark of two revisions in alternating runs: builds REV (default
# the parent of HEAD) in a worktree of its own, then runs
# scripts/perf/bench-import.sh ROUNDS times for each binary, in turn (A B, B A,
# ...), on one generated dump, and prints every run's import and baseline
# seconds and ratio. The machine's speed drifts, so each ratio is an
# import against the baseline measured right after it.
#
#   scripts/perf/bench-import-ab.sh [REV] [ROUNDS] [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD~1}
rounds=${2:-2}
products=${3:-1000011}
work=${BENCH_DIR:-$(mktemp -d /tmp/atelier-ab.XXXXXX)}
mkdir -p "$work"

echo "==> building this checkout and $rev"
cargo build --release --quiet
cp target/release/atelier "$work/atelier-new"
if [ ! -x "$work/atelier-old" ]; then
  git worktree add --detach "$work/old-src" "$rev" >/dev/null
  (cd "$work/old-src" && CARGO_TARGET_DIR="$work/old-target" cargo build --release --quiet)
  cp "$work/old-target/release/atelier" "$work/atelier-old"
  git worktree remove --force "$work/old-src"
fi

run() {
  local side=$1 round=$2
  echo "==> round $round: $side"
  BENCH_DIR="$work" ATELIER_BIN="$work/atelier-$side" bash scripts/perf/bench-import.sh "$products" \
    | tee "$work/$side-$round.txt" | grep -E 'styles answers|atelier import:|baseline|ratio'
}
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then run old "$round"; run new "$round"; else run new "$round"; run old "$round"; fi
done

echo
echo "side  round  import_s  answers_s  baseline_s  ratio"
for f in "$work"/old-*.txt "$work"/new-*.txt; do
  side=$(basename "$f" .txt)
  imp=$(sed -n 's/^atelier import: *\([0-9.]*\) s.*/\1/p' "$f")
  ans=$(sed -n 's/^ *styles answers: *\([0-9.]*\)s/\1/p' "$f")
  base=$(sed -n 's/^baseline (\\copy): *\([0-9.]*\) s.*/\1/p' "$f")
  ratio=$(sed -n 's/^ratio import\/baseline: *\([0-9.]*\).*/\1/p' "$f")
  printf '%-11s %9s %10s %11s %6s\n' "$side" "$imp" "$ans" "$base" "$ratio"
done
