//! Rendering every product's `/products/:id/styles` answer into
//! `styles_answers` at import, so the endpoint reads one row per product.
//!
//! The statement is the SQL twin of `views::StylesView` and must write the
//! same bytes serde does: `to_json` escapes text as serde_json does (`\"`,
//! `\\`, `\b\f\n\r\t`, other control characters as `\u00xx`, everything else
//! as is), prices are whole units written `"N.00"`, styles, photos and skus
//! come in id order, a style without photos has the one photo of nulls and
//! one without skus the one sku keyed `"null"` (see `views::PhotoView::NONE`
//! and `views::SkusView`).
//! Tests compare the two renderings for every fixture product, odd text
//! included. A product the table has no row for is answered from the rows
//! (see `catalog::find_styles_answers`), so a rendering here that is missing
//! costs speed, never correctness.

use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable};

use super::ImportError;

/// Renders the answers of the products with ids in `lo..=hi` into the
/// `styles_answers` of the connection's search path. Each child table is
/// sorted once and aggregated in that order, as in the service's own query.
const RENDER_STYLES_ANSWERS: &str = r#"
INSERT INTO styles_answers (product_id, body)
WITH s AS (SELECT * FROM styles WHERE product_id BETWEEN $1 AND $2),
ph AS (
  SELECT style_id, '[' || string_agg('{"thumbnail_url":' || to_json(thumbnail_url)::text
                                     || ',"url":' || to_json(url)::text || '}', ',') || ']' AS j
    FROM (SELECT p.style_id, p.id, p.url, p.thumbnail_url
            FROM photos p JOIN s ON s.id = p.style_id ORDER BY p.style_id, p.id) o
   GROUP BY style_id),
sk AS (
  SELECT style_id, '{' || string_agg('"' || id || '":{"quantity":' || quantity
                                     || ',"size":' || to_json(size)::text || '}', ',') || '}' AS j
    FROM (SELECT k.style_id, k.id, k.size, k.quantity
            FROM skus k JOIN s ON s.id = k.style_id ORDER BY k.style_id, k.id) o
   GROUP BY style_id),
st AS (
  SELECT product_id, string_agg(j, ',') AS j FROM (
    SELECT s.product_id, s.id, '{"style_id":' || s.id || ',"name":' || to_json(s.name)::text
           || ',"original_price":"' || s.original_price || '.00","sale_price":'
           || COALESCE('"' || s.sale_price || '.00"', 'null') || ',"default?":'
           || CASE WHEN s.default_style THEN 'true' ELSE 'false' END
           || ',"photos":' || COALESCE(ph.j, '[{"thumbnail_url":null,"url":null}]')
           || ',"skus":' || COALESCE(sk.j, '{"null":{"quantity":null,"size":null}}') || '}' AS j
      FROM s LEFT JOIN ph ON ph.style_id = s.id LEFT JOIN sk ON sk.style_id = s.id
     ORDER BY s.product_id, s.id) o
   GROUP BY product_id)
SELECT p.id, '{"product_id":"' || p.id || '","results":[' || COALESCE(st.j, '') || ']}'
  FROM product p LEFT JOIN st ON st.product_id = p.id
 WHERE p.id BETWEEN $1 AND $2
"#;

#[derive(QueryableByName)]
struct IdRange {
    #[diesel(sql_type = Nullable<Integer>)]
    lo: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    hi: Option<i32>,
}

/// Renders every product's answer into `schema.styles_answers`, the product
/// ids split into `parts` ranges rendered at once on connections of their
/// own (the statement keeps one core busy; the import's other steps are
/// done by then). Returns the rows written.
pub fn render_styles_answers(
    database_url: &str,
    schema: &str,
    parts: usize,
) -> Result<u64, ImportError> {
    let started = Instant::now();
    let mut conn = PgConnection::establish(database_url)?;
    let range: IdRange = diesel::sql_query(format!(
        "SELECT min(id) AS lo, max(id) AS hi FROM {schema}.product"
    ))
    .get_result(&mut conn)?;
    let (Some(lo), Some(hi)) = (range.lo, range.hi) else {
        return Ok(0);
    };
    let ranges = split(lo, hi, parts.max(1));
    let written = std::thread::scope(|scope| {
        let workers: Vec<_> = ranges
            .iter()
            .map(|&(lo, hi)| scope.spawn(move || render_range(database_url, schema, lo, hi)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| ImportError::Other("rendering styles answers panicked".into()))?
            })
            .sum::<Result<u64, ImportError>>()
    })?;
    log::debug!(
        "rendered {written} styles answers in {:?}",
        started.elapsed()
    );
    Ok(written)
}

fn render_range(database_url: &str, schema: &str, lo: i32, hi: i32) -> Result<u64, ImportError> {
    let mut conn = PgConnection::establish(database_url)?;
    diesel::sql_query(format!("SET search_path = {schema}")).execute(&mut conn)?;
    // Room for the sorts of one range's photos and skus to stay in memory
    // (with 1 GB, two ranges of the full dump rendered in 48 s instead of
    // 52); each connection may use it more than once at a time.
    diesel::sql_query("SET work_mem = '512MB'").execute(&mut conn)?;
    let written = diesel::sql_query(RENDER_STYLES_ANSWERS)
        .bind::<Integer, _>(lo)
        .bind::<Integer, _>(hi)
        .execute(&mut conn)?;
    Ok(written as u64)
}

/// `lo..=hi` in `parts` contiguous ranges of about equal width.
fn split(lo: i32, hi: i32, parts: usize) -> Vec<(i32, i32)> {
    let (lo, hi) = (i64::from(lo), i64::from(hi));
    let parts = i64::try_from(parts).unwrap_or(1).clamp(1, hi - lo + 1);
    let width = (hi - lo + 1) / parts;
    (0..parts)
        .map(|k| {
            let start = lo + k * width;
            let end = if k == parts - 1 {
                hi
            } else {
                start + width - 1
            };
            // Both ends lie within lo..=hi, which came from i32s.
            (
                i32::try_from(start).unwrap_or(i32::MAX),
                i32::try_from(end).unwrap_or(i32::MAX),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn ranges_cover_every_id_once() {
        assert_eq!(split(1, 10, 2), [(1, 5), (6, 10)]);
        assert_eq!(split(1, 11, 2), [(1, 5), (6, 11)]);
        assert_eq!(split(7, 7, 4), [(7, 7)]);
        assert_eq!(split(1, 3, 4), [(1, 1), (2, 2), (3, 3)]);
        assert_eq!(
            split(i32::MAX - 1, i32::MAX, 2),
            [(i32::MAX - 1, i32::MAX - 1), (i32::MAX, i32::MAX)]
        );
        assert_eq!(split(-5, 4, 1), [(-5, 4)]);
    }
}
