//! The searches: a page of products in relevance order, and the category
//! counts beside it, both read from the `search` schema (see its migration)
//! in one read-only snapshot, with a misspelling corrected when nothing
//! matches.
//!
//! Relevance is a level: 1 when every word of `q` is in the name, 2 in the
//! name or category, 3 adding the slogan, 4 the feature values, 5 the
//! description; ties by id. Each level has its GIN index. The work is
//! bounded by the page, not by how many products match: the first
//! [`PROBE_ROWS`] products in id order are read once, each match with its
//! level, which is all a level common enough to fill the page needs; the
//! levels above it are sparse, and their indexes give all their matches in
//! one statement. No search reads past [`MAX_RESULTS`] results. Category
//! counts with `q` are estimated from a fixed sample when the query is
//! common and counted when it is rare (see [`count_categories`]).
//!
//! The statements are planned for the values they run with (not the generic
//! plans of the rest of the service): which plan is cheap depends on how
//! common the words are, which only their statistics tell.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text};

use super::input::{SearchInput, Terms};
use crate::catalog::models::{CategoryCount, Product};
use crate::catalog::queries::Page;
use crate::catalog::schema::product;

/// The most results a search has, as dedicated search engines bound
/// theirs: a page past them is `[]`, so no request reads deeper.
pub const MAX_RESULTS: u64 = 10_000;

/// Products read in id order, once per search, to find the levels common
/// enough to fill the page there: a level holding at least one product in
/// `PROBE_ROWS / want` is; rarer, its index is cheaper.
const PROBE_ROWS: i64 = 4_096;

/// Products in the sample that category counts with `q` read first (see
/// [`count_categories`]).
const FACET_SAMPLE: i64 = 8_192;

/// Matches in that sample from which category counts are estimated: with
/// fewer, the query is rare enough to count its matches.
const FACET_ESTIMATE_FROM: i64 = 100;

/// The most matches category counts count one by one.
const FACET_COUNT_LIMIT: i64 = 20_000;

/// What each relevance level matches `q` against, from the name alone to
/// every field; each is the expression of a GIN index of `search.products`.
const LEVELS: [&str; 5] = [
    "ts_filter(s.document, '{a}')",
    "ts_filter(s.document, '{a,b}')",
    "ts_filter(s.document, '{a,b,c}')",
    "s.document",
    "(s.document || s.description)",
];

/// The filters, the exclusions and the bounds, as every search statement
/// binds them: `$1` the positive tsquery text, `$2` the excluded one, `$3`
/// the categories, `$4` and `$5` the price bounds.
const FILTERS: &str = "($2::text IS NULL
        OR NOT (s.document || s.description) @@ to_tsquery('search.english_unaccent', $2))
   AND ($3::text[] IS NULL OR s.category = ANY ($3))
   AND ($4::integer IS NULL OR s.default_price >= $4)
   AND ($5::integer IS NULL OR s.default_price <= $5)";

/// What a search found, and the `q` it searched for instead of the one
/// given, if it corrected a misspelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub rows: T,
    /// The corrected `q`, in normal form.
    pub corrected: Option<String>,
}

/// How many products of each category a search finds, most first, then by
/// name; `estimated` when they are estimated from a sample rather than
/// counted (see [`count_categories`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryCounts {
    pub counts: Vec<CategoryCount>,
    pub estimated: bool,
}

impl CategoryCounts {
    /// `counts` most first, then by name (as bytes, as the no-`q` counts
    /// are ordered by PostgreSQL).
    fn ranked(mut counts: Vec<CategoryCount>, estimated: bool) -> Self {
        counts.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.category.cmp(&b.category))
        });
        CategoryCounts { counts, estimated }
    }
}

/// The page `page` of the products `input` finds, most relevant first.
/// Statements, in one read-only transaction: 3 or 4 (a setting, one or two
/// to rank, the products); when nothing was found, 1 to look for
/// misspellings and, if some word was, up to 3 more; none for a page past
/// [`MAX_RESULTS`].
pub fn find_products(
    conn: &mut PgConnection,
    input: &SearchInput,
    page: Page,
) -> QueryResult<Found<Vec<Product>>> {
    let start = page
        .offset()
        .and_then(|offset| u64::try_from(offset).ok())
        .filter(|&offset| offset < MAX_RESULTS);
    let Some(start) = start else {
        return Ok(Found {
            rows: Vec::new(),
            corrected: None,
        });
    };
    let want = (start + u64::from(page.count)).min(MAX_RESULTS);
    in_snapshot(conn, |conn| {
        let found = with_correction(conn, input, |conn, input| {
            ranked_ids(conn, input, want as i64)
        })?;
        let ids = found
            .rows
            .get(usize::try_from(start).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        Ok(Found {
            rows: products_in_order(conn, ids)?,
            corrected: found.corrected,
        })
    })
}

/// How many of the products `input` finds each category has, most first,
/// then by name. Without `q`, sums of the counts kept per category and
/// price, whatever the catalog's size. With it, the work is bounded by
/// construction, never by the number of matches: a sample of about
/// [`FACET_SAMPLE`] products (whole blocks of the table, the same blocks
/// every time) is read first; when it holds [`FACET_ESTIMATE_FROM`] matches
/// or more, each count is estimated from it (`estimated`); with fewer, the
/// query is rare, and its matches are counted from the index, up to
/// [`FACET_COUNT_LIMIT`] (past which the sample's estimate is given after
/// all). A catalog no larger than the sample is counted exactly.
pub fn count_categories(
    conn: &mut PgConnection,
    input: &SearchInput,
) -> QueryResult<Found<CategoryCounts>> {
    in_snapshot(conn, |conn| with_correction(conn, input, category_counts))
}

/// Runs `reads` in one read-only snapshot, planned for their values (see
/// the module's documentation), without JIT compilation (a search's
/// statements are short; compiling them would take longer) and without the
/// notices of a query of stop words only.
fn in_snapshot<T>(
    conn: &mut PgConnection,
    reads: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            diesel::sql_query(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
                        set_config('jit', 'off', true),
                        set_config('client_min_messages', 'warning', true)",
            )
            .execute(conn)?;
            reads(conn)
        })
}

/// `read` of `input`; when it finds nothing and some word of `q` is in no
/// product (as a prefix, for the last), `read` again with each such word
/// replaced by the catalog's closest (see [`corrections`]), if that finds
/// something. (Asking for such words first would spare a misspelt search
/// one read, but a word the vocabulary lacks may still match by its stem or
/// as a prefix, and whether it does costs as much to ask as the read.)
fn with_correction<T: IsEmpty>(
    conn: &mut PgConnection,
    input: &SearchInput,
    read: impl Fn(&mut PgConnection, &SearchInput) -> QueryResult<T>,
) -> QueryResult<Found<T>> {
    let as_given = |rows| Found {
        rows,
        corrected: None,
    };
    let rows = read(conn, input)?;
    if !rows.is_empty() {
        return Ok(as_given(rows));
    }
    let Some(terms) = &input.terms else {
        return Ok(as_given(rows));
    };
    let Some(corrected) = corrections(conn, terms)? else {
        return Ok(as_given(rows));
    };
    let retry = SearchInput {
        terms: Some(corrected),
        filters: input.filters.clone(),
    };
    let again = read(conn, &retry)?;
    if again.is_empty() {
        return Ok(as_given(rows));
    }
    Ok(Found {
        rows: again,
        corrected: retry.terms.map(|t| t.normal_form()),
    })
}

/// What a search reads: empty when it found nothing.
trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl IsEmpty for CategoryCounts {
    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[derive(QueryableByName)]
struct Correction {
    #[diesel(sql_type = BigInt)]
    position: i64,
    #[diesel(sql_type = Text)]
    word: String,
}

/// `terms` with each word that no product has (nor, for the last word, any
/// word it begins) replaced by the catalog's word most like it (trigram
/// similarity over `search.words`, at least `pg_trgm`'s threshold; the
/// commoner of equals); `None` when there is nothing to replace. Excluded
/// words stay. Statements: 1.
fn corrections(conn: &mut PgConnection, terms: &Terms) -> QueryResult<Option<Terms>> {
    let checks = terms.words_to_check();
    let words: Vec<&str> = checks.iter().map(|c| c.map_or("", |(w, _)| w)).collect();
    let prefixes: Vec<bool> = checks.iter().map(|c| c.is_some_and(|(_, p)| p)).collect();
    let found: Vec<Correction> = diesel::sql_query(
        "SELECT w.i AS position, c.word
           FROM unnest($1::text[], $2::boolean[]) WITH ORDINALITY AS w (word, prefix, i)
          CROSS JOIN LATERAL (SELECT search.unaccent(w.word) AS norm) n
          CROSS JOIN LATERAL (
                SELECT v.word FROM search.words v
                 WHERE v.word OPERATOR(search.%) n.norm
                 ORDER BY search.similarity(v.word, n.norm) DESC, v.texts DESC,
                          v.word COLLATE \"C\"
                 LIMIT 1) c
          WHERE w.word <> ''
            AND NOT EXISTS (SELECT 1 FROM search.words v WHERE v.word = n.norm)
            AND NOT (w.prefix AND EXISTS (
                  SELECT 1 FROM search.words v
                   WHERE v.word LIKE replace(replace(replace(n.norm, '\\', '\\\\'), '%', '\\%'),
                                             '_', '\\_') || '%'))
          ORDER BY w.i",
    )
    .bind::<Array<Text>, _>(&words)
    .bind::<Array<Bool>, _>(&prefixes)
    .load(conn)?;
    let mut replace = vec![None; words.len()];
    let mut any = false;
    for Correction { position, word } in found {
        let slot = usize::try_from(position - 1)
            .ok()
            .and_then(|i| replace.get_mut(i));
        // A vocabulary word is letters and digits, as a query's words are;
        // one that is not could not be searched for as one word.
        if let Some(slot) = slot {
            if !word.is_empty() && word.chars().all(char::is_alphanumeric) {
                *slot = Some(word);
                any = true;
            }
        }
    }
    Ok(any.then(|| terms.replaced(&replace)))
}

/// The values every search statement binds (see [`FILTERS`]).
struct Binds {
    positive: Option<String>,
    excluded: Option<String>,
    categories: Option<Vec<String>>,
    min_price: Option<i32>,
    max_price: Option<i32>,
}

impl Binds {
    fn new(input: &SearchInput) -> Self {
        let filters = &input.filters;
        Binds {
            positive: input.terms.as_ref().map(Terms::tsquery),
            excluded: input.terms.as_ref().and_then(Terms::excluded_tsquery),
            categories: (!filters.categories.is_empty()).then(|| filters.categories.clone()),
            min_price: filters.min_price,
            max_price: filters.max_price,
        }
    }

    fn query(&self, sql: String) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<Nullable<Text>, _>(self.positive.clone())
            .bind::<Nullable<Text>, _>(self.excluded.clone())
            .bind::<Nullable<Array<Text>>, _>(self.categories.clone())
            .bind::<Nullable<Integer>, _>(self.min_price)
            .bind::<Nullable<Integer>, _>(self.max_price)
    }
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = Integer)]
    product_id: i32,
    #[diesel(sql_type = Integer)]
    level: i32,
}

/// How a search ranks what it finds: each match's relevance level, and the
/// condition of matching at a level or better. Without `q`, every product
/// the filters let through is one level.
struct Ranking {
    with_terms: bool,
}

impl Ranking {
    fn of(input: &SearchInput) -> Self {
        Ranking {
            with_terms: input.terms.is_some(),
        }
    }

    /// The deepest level: every match is at it or better.
    fn deepest(&self) -> usize {
        if self.with_terms {
            LEVELS.len()
        } else {
            1
        }
    }

    /// A match's level, as SQL over the row `s`.
    fn level(&self) -> String {
        if !self.with_terms {
            return "1".to_string();
        }
        let mut sql = String::from("CASE");
        for (n, matched) in LEVELS.iter().enumerate().take(LEVELS.len() - 1) {
            sql.push_str(&format!(" WHEN {matched} @@ {QUERY} THEN {}", n + 1));
        }
        sql.push_str(&format!(" ELSE {} END", LEVELS.len()));
        sql
    }

    /// Matching at `level` or better (1-based), as SQL over the row `s`.
    fn within(&self, level: usize) -> String {
        match LEVELS.get(level.saturating_sub(1)) {
            Some(matched) if self.with_terms => format!("{matched} @@ {QUERY}"),
            _ => "$1::text IS NULL".to_string(),
        }
    }
}

/// The positive words of `q` as a tsquery (bound as `$1`).
const QUERY: &str = "to_tsquery('search.english_unaccent', $1)";

/// The ids of the first `want` products `input` finds, most relevant
/// first. The first [`PROBE_ROWS`] products by id are read once, each
/// match with its level: a level with at least `want` matches there is
/// common, and its first `want` in id order are among them. The levels
/// above the first common one (all of them, when none is) are sparse, so
/// their index gives all their matches cheaply, in one statement ranked by
/// level and id. Statements: 1 or 2.
fn ranked_ids(conn: &mut PgConnection, input: &SearchInput, want: i64) -> QueryResult<Vec<i32>> {
    let binds = Binds::new(input);
    let ranking = Ranking::of(input);
    let deepest = ranking.deepest();
    let probed: Vec<Ranked> = binds
        .query(format!(
            "SELECT s.product_id, {level} AS level
               FROM (SELECT * FROM search.products ORDER BY product_id LIMIT $6) s
              WHERE {within} AND {FILTERS}
              ORDER BY s.product_id",
            level = ranking.level(),
            within = ranking.within(deepest),
        ))
        .bind::<BigInt, _>(PROBE_ROWS)
        .load(conn)?;
    let mut by_level: Vec<Vec<i32>> = vec![Vec::new(); deepest];
    for row in probed {
        let level = usize::try_from(row.level - 1)
            .ok()
            .and_then(|l| by_level.get_mut(l));
        if let Some(ids) = level {
            ids.push(row.product_id);
        }
    }
    let want_rows = usize::try_from(want).unwrap_or(0);
    let common = by_level.iter().position(|ids| ids.len() >= want_rows);
    let sparse = common.unwrap_or(deepest);
    let mut ids = if sparse > 0 {
        index_ranked(conn, &binds, &ranking, sparse, want)?
    } else {
        Vec::with_capacity(want_rows)
    };
    if let Some(level) = common.and_then(|l| by_level.get(l)) {
        let need = want_rows.saturating_sub(ids.len());
        ids.extend(level.iter().take(need));
    }
    Ok(ids)
}

/// The first `want` products matching at `levels` or better, by level and
/// id, from the index: cheap when they are few. Ranking them by a level
/// computed from each row (and the subquery) keeps the planner from
/// walking the ids in order instead, which it would for a small `want`, and
/// which reads the whole catalog when few match. Statements: 1.
fn index_ranked(
    conn: &mut PgConnection,
    binds: &Binds,
    ranking: &Ranking,
    levels: usize,
    want: i64,
) -> QueryResult<Vec<i32>> {
    let found: Vec<Ranked> = binds
        .query(format!(
            "SELECT product_id, level
               FROM (SELECT s.product_id, {level} AS level FROM search.products s
                      WHERE {within} AND {FILTERS} OFFSET 0) found
              ORDER BY level, product_id LIMIT $6",
            level = ranking.level(),
            within = ranking.within(levels),
        ))
        .bind::<BigInt, _>(want)
        .load(conn)?;
    Ok(found.into_iter().map(|r| r.product_id).collect())
}

/// The products with `ids`, in that order. Statements: 1 (none for none).
fn products_in_order(conn: &mut PgConnection, ids: &[i32]) -> QueryResult<Vec<Product>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_id: HashMap<i32, Product> = product::table
        .filter(product::id.eq_any(ids))
        .select(Product::as_select())
        .load(conn)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

#[derive(QueryableByName)]
struct SampleCount {
    #[diesel(sql_type = Text)]
    category: String,
    /// Matches of this category in the sample.
    #[diesel(sql_type = BigInt)]
    matches: i64,
    /// Products of this category in the sample.
    #[diesel(sql_type = BigInt)]
    sampled: i64,
    /// Products in the catalog.
    #[diesel(sql_type = BigInt)]
    catalog: i64,
}

/// The counts of [`count_categories`]. Statements: 1 or 2.
fn category_counts(conn: &mut PgConnection, input: &SearchInput) -> QueryResult<CategoryCounts> {
    let binds = Binds::new(input);
    if input.terms.is_none() {
        let counts = binds
            .query(
                "SELECT s.category, sum(s.products)::bigint AS count
                   FROM search.category_prices s
                  WHERE $1::text IS NULL AND $2::text IS NULL
                    AND ($3::text[] IS NULL OR s.category = ANY ($3))
                    AND ($4::integer IS NULL OR s.default_price >= $4)
                    AND ($5::integer IS NULL OR s.default_price <= $5)
                  GROUP BY s.category HAVING sum(s.products) > 0
                  ORDER BY count DESC, s.category COLLATE \"C\""
                    .to_string(),
            )
            .load(conn)?;
        return Ok(CategoryCounts {
            counts,
            estimated: false,
        });
    }
    let matched = format!("(s.document || s.description) @@ {QUERY} AND {FILTERS}");
    let sampled: Vec<SampleCount> = binds
        .query(format!(
            "WITH catalog AS (SELECT coalesce(sum(products), 0)::bigint AS products
                                FROM search.category_prices)
             SELECT s.category, count(*) FILTER (WHERE {matched}) AS matches,
                    count(*) AS sampled, (SELECT products FROM catalog) AS catalog
               FROM search.products s
                    TABLESAMPLE SYSTEM ((SELECT least(100, 100.0 * $6 / greatest(products, 1))
                                           FROM catalog))
                    REPEATABLE (0)
              GROUP BY s.category"
        ))
        .bind::<BigInt, _>(FACET_SAMPLE)
        .load(conn)?;
    let in_sample: i64 = sampled.iter().map(|s| s.sampled).sum();
    let catalog = sampled.first().map_or(0, |s| s.catalog);
    let matches: i64 = sampled.iter().map(|s| s.matches).sum();
    if in_sample >= catalog && catalog > 0 {
        // The sample is the whole catalog: its counts are exact.
        return Ok(CategoryCounts::ranked(exact(sampled), false));
    }
    if matches < FACET_ESTIMATE_FROM {
        let counted: Vec<CategoryCount> = binds
            .query(format!(
                "SELECT category, count(*) AS count
                   FROM (SELECT s.category FROM search.products s WHERE {matched} LIMIT $6) m
                  GROUP BY category"
            ))
            .bind::<BigInt, _>(FACET_COUNT_LIMIT + 1)
            .load(conn)?;
        if counted.iter().map(|c| c.count).sum::<i64>() <= FACET_COUNT_LIMIT {
            return Ok(CategoryCounts::ranked(counted, false));
        }
    }
    Ok(CategoryCounts::ranked(
        estimate(sampled, in_sample, catalog),
        true,
    ))
}

/// The sample's matches by category, when the sample is the catalog.
fn exact(sampled: Vec<SampleCount>) -> Vec<CategoryCount> {
    sampled
        .into_iter()
        .filter(|s| s.matches > 0)
        .map(|s| CategoryCount {
            category: s.category,
            count: s.matches,
        })
        .collect()
}

/// The catalog's matches by category, estimated from a sample of
/// `in_sample` of its `catalog` products: each category's share of the
/// sample, scaled to the catalog.
fn estimate(sampled: Vec<SampleCount>, in_sample: i64, catalog: i64) -> Vec<CategoryCount> {
    let scale = catalog as f64 / in_sample.max(1) as f64;
    sampled
        .into_iter()
        .filter(|s| s.matches > 0)
        .map(|s| CategoryCount {
            category: s.category,
            // At most the catalog's size: no overflow.
            count: (s.matches as f64 * scale).round() as i64,
        })
        .collect()
}
