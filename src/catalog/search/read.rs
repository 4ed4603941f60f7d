//! The searches: a page of products in relevance order, and the category
//! counts beside it, both read from the `search` schema (see its migration)
//! in one read-only snapshot, with a misspelling corrected when nothing
//! matches.
//!
//! Relevance is a level: 1 when every word of `q` is in the name, 2 in the
//! name or category, 3 adding the slogan, 4 the feature values, 5 the
//! description; ties by id. Each level has its GIN index, so a page is read
//! level by level, each in id order, and reading stops when the page is
//! full. The work is bounded by the page, not by how many products match:
//! a level is first looked for in the first [`PROBE_ROWS`] products in id
//! order, which is all a common word needs; only when they hold too few
//! (the level is sparse) does its index give every match, and a sparse
//! level has few. No search reads past [`MAX_RESULTS`] results.
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

/// Products read in id order when a level is first looked for. A level
/// holding at least one product in `PROBE_ROWS / count` is found there;
/// rarer, its index is cheaper.
const PROBE_ROWS: i64 = 4_096;

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

/// The page `page` of the products `input` finds, most relevant first.
/// Statements, in one read-only transaction: 2 to 12 (a setting, one or two
/// per level read, the products), typically 3; when nothing was found, 1
/// to look for misspellings and, if some word was, up to 11 more; none for
/// a page past [`MAX_RESULTS`].
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
/// then by name. Without `q` these are sums of the counts kept per category
/// and price, whatever the catalog's size; with it, a count of the matches.
pub fn count_categories(
    conn: &mut PgConnection,
    input: &SearchInput,
) -> QueryResult<Found<Vec<CategoryCount>>> {
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
/// something.
fn with_correction<T: IsEmpty>(
    conn: &mut PgConnection,
    input: &SearchInput,
    read: impl Fn(&mut PgConnection, &SearchInput) -> QueryResult<T>,
) -> QueryResult<Found<T>> {
    let rows = read(conn, input)?;
    if !rows.is_empty() {
        return Ok(Found {
            rows,
            corrected: None,
        });
    }
    if let Some(terms) = &input.terms {
        if let Some(corrected) = corrections(conn, terms)? {
            let retry = SearchInput {
                terms: Some(corrected),
                filters: input.filters.clone(),
            };
            let again = read(conn, &retry)?;
            if !again.is_empty() {
                return Ok(Found {
                    rows: again,
                    corrected: retry.terms.map(|t| t.normal_form()),
                });
            }
        }
    }
    Ok(Found {
        rows,
        corrected: None,
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
struct Id {
    #[diesel(sql_type = Integer)]
    product_id: i32,
}

/// The ids of the first `want` products `input` finds, most relevant
/// first: level by level (without `q`, one level: every product the
/// filters let through), until `want` are found.
fn ranked_ids(conn: &mut PgConnection, input: &SearchInput, want: i64) -> QueryResult<Vec<i32>> {
    let binds = Binds::new(input);
    if input.terms.is_none() {
        return level_ids(conn, &binds, "$1::text IS NULL", want);
    }
    let mut ids = Vec::new();
    for (level, matched) in LEVELS.iter().enumerate() {
        let need = want - ids.len() as i64;
        if need <= 0 {
            break;
        }
        let query = "to_tsquery('search.english_unaccent', $1)";
        let condition = match level.checked_sub(1).and_then(|l| LEVELS.get(l)) {
            Some(above) => format!("{matched} @@ {query} AND NOT {above} @@ {query}"),
            None => format!("{matched} @@ {query}"),
        };
        ids.extend(level_ids(conn, &binds, &condition, need)?);
    }
    Ok(ids)
}

/// The first `need` products in id order that meet `condition` and the
/// filters: from the first [`PROBE_ROWS`] products when they hold that many
/// (a common level), else from the condition's index (a sparse one; the
/// subquery keeps the planner from walking the ids instead). Statements: 1
/// or 2.
fn level_ids(
    conn: &mut PgConnection,
    binds: &Binds,
    condition: &str,
    need: i64,
) -> QueryResult<Vec<i32>> {
    let probed: Vec<Id> = binds
        .query(format!(
            "SELECT s.product_id
               FROM (SELECT * FROM search.products ORDER BY product_id LIMIT $7) s
              WHERE {condition} AND {FILTERS}
              ORDER BY s.product_id LIMIT $6"
        ))
        .bind::<BigInt, _>(need)
        .bind::<BigInt, _>(PROBE_ROWS)
        .load(conn)?;
    if probed.len() as i64 >= need {
        return Ok(probed.into_iter().map(|r| r.product_id).collect());
    }
    let found: Vec<Id> = binds
        .query(format!(
            "SELECT product_id
               FROM (SELECT s.product_id FROM search.products s
                      WHERE {condition} AND {FILTERS} OFFSET 0) found
              ORDER BY product_id LIMIT $6"
        ))
        .bind::<BigInt, _>(need)
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

/// The counts of [`count_categories`]. Statements: 1.
fn category_counts(
    conn: &mut PgConnection,
    input: &SearchInput,
) -> QueryResult<Vec<CategoryCount>> {
    let binds = Binds::new(input);
    let sql = if input.terms.is_none() {
        "SELECT s.category, sum(s.products)::bigint AS count
           FROM search.category_prices s
          WHERE $1::text IS NULL AND $2::text IS NULL
            AND ($3::text[] IS NULL OR s.category = ANY ($3))
            AND ($4::integer IS NULL OR s.default_price >= $4)
            AND ($5::integer IS NULL OR s.default_price <= $5)
          GROUP BY s.category HAVING sum(s.products) > 0
          ORDER BY count DESC, s.category COLLATE \"C\""
            .to_string()
    } else {
        format!(
            "SELECT s.category, count(*) AS count
               FROM search.products s
              WHERE (s.document || s.description) @@ to_tsquery('search.english_unaccent', $1)
                AND {FILTERS}
              GROUP BY s.category
              ORDER BY count DESC, s.category COLLATE \"C\""
        )
    };
    binds.query(sql).load(conn)
}
