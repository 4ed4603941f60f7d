//! Storing every product's `/products/:id` and `/products/:id/styles`
//! answers in `product_answers` and `styles_answers` at import, so each
//! endpoint reads one row per product.
//!
//! The answers are rendered by the service's own renderers (`answers`: the
//! row path's loaders, and `views::ProductDetailView` and
//! `views::StylesView` through serde), never by SQL: one contract, one
//! renderer. Reader threads, each on a connection of its
//! own, render id-ordered batches of products, each batch the next
//! [`BATCH_PRODUCTS`] products that exist (however sparse their ids: a batch
//! is bounded by ids read from the table, not by id arithmetic); one binary
//! `COPY ... FREEZE`
//! on the caller's side streams them into the table in id order, as the
//! dump's tables are loaded.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use super::sessions::Sessions;
use super::tables::{COPY_HEADER, COPY_TRAILER};
use super::ImportError;
use crate::catalog::answers::{render_range, with_answers_table, RenderedBatch, Stored};

/// Products per batch: enough rows per statement that a round trip is
/// small beside it, few enough that a batch's rows stay in memory briefly.
const BATCH_PRODUCTS: i64 = 2_000;

/// Rendered batches a reader may have waiting for the writer.
const READ_AHEAD: usize = 2;

#[derive(QueryableByName)]
struct BatchStart {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// What rendering the answers did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderedAnswers {
    /// Answers written.
    pub rows: u64,
    /// Batches they were rendered in (each 2 statements for the product
    /// answers, 4 for the styles').
    pub batches: usize,
}

/// Renders every product's `stored` answer in `schema` (whose tables are
/// read and whose table of those answers is replaced) on `readers`
/// connections, and writes them with one COPY.
pub fn render_answers(
    stored: Stored,
    sessions: Sessions<'_>,
    schema: &str,
    readers: usize,
) -> Result<RenderedAnswers, ImportError> {
    let started = Instant::now();
    let mut conn = sessions.open()?;
    diesel::sql_query(format!("SET search_path = {schema}")).execute(&mut conn)?;
    // The first id of every BATCH_PRODUCTS-th product: one pass over the
    // primary key's index.
    let starts: Vec<i32> = diesel::sql_query(
        "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM product) t
          WHERE n % $1 = 0 ORDER BY id",
    )
    .bind::<BigInt, _>(BATCH_PRODUCTS)
    .load::<BatchStart>(&mut conn)?
    .into_iter()
    .map(|start| start.id)
    .collect();
    let batches = batch_ranges(&starts);
    let readers = readers.clamp(1, batches.len().max(1));
    let written = std::thread::scope(|scope| -> Result<u64, ImportError> {
        let mut queues = Vec::with_capacity(readers);
        for reader in 0..readers {
            let (send, receive) = sync_channel(READ_AHEAD);
            queues.push(receive);
            // Reader r renders batches r, r + readers, ...: the writer takes
            // them back in turn, so rows reach the table in id order.
            let mine: Vec<(i32, i32)> = batches
                .iter()
                .copied()
                .skip(reader)
                .step_by(readers)
                .collect();
            scope.spawn(move || read_batches(stored, sessions, schema, &mine, &send));
        }
        write_answers(&mut conn, stored, &queues, batches.len())
    })?;
    tracing::debug!(
        "rendered {written} answers into {} in {} batches in {:?}",
        stored.table(),
        batches.len(),
        started.elapsed()
    );
    Ok(RenderedAnswers {
        rows: written,
        batches: batches.len(),
    })
}

/// Renders `batches` in order onto `send`; stops at the first error (sent on)
/// or when the writer has gone.
fn read_batches(
    stored: Stored,
    sessions: Sessions<'_>,
    schema: &str,
    batches: &[(i32, i32)],
    send: &SyncSender<Result<RenderedBatch, ImportError>>,
) {
    let mut conn = match sessions.open() {
        Ok(conn) => conn,
        Err(e) => {
            let _ = send.send(Err(e));
            return;
        }
    };
    if let Err(e) = diesel::sql_query(format!("SET search_path = {schema}")).execute(&mut conn) {
        let _ = send.send(Err(e.into()));
        return;
    }
    for &(lo, hi) in batches {
        let rendered = render_range(&mut conn, stored, lo, hi).map_err(ImportError::from);
        let failed = rendered.is_err();
        if send.send(rendered).is_err() || failed {
            return;
        }
    }
}

/// Takes `total` batches from the readers in turn and COPYs them into the
/// connection's table of `stored` answers, emptied first in the same
/// transaction so the rows go in frozen.
fn write_answers(
    conn: &mut PgConnection,
    stored: Stored,
    queues: &[Receiver<Result<RenderedBatch, ImportError>>],
    total: usize,
) -> Result<u64, ImportError> {
    let write = |copy: &mut dyn Write| -> Result<(), ImportError> {
        let io_error = |e: std::io::Error| ImportError::Other(format!("writing answers: {e}"));
        let mut out = std::io::BufWriter::with_capacity(1 << 18, copy);
        out.write_all(COPY_HEADER).map_err(io_error)?;
        for k in 0..total {
            let batch = queues[k % queues.len()]
                .recv()
                .map_err(|_| ImportError::Other("an answer reader stopped".into()))??;
            for (id, body) in batch {
                out.write_all(&encode_answer(id, &body)).map_err(io_error)?;
            }
        }
        out.write_all(COPY_TRAILER).map_err(io_error)?;
        out.flush().map_err(io_error)
    };
    let written = conn.transaction(|conn| {
        diesel::sql_query(format!("TRUNCATE {}", stored.table())).execute(conn)?;
        with_answers_table!(stored, answers => diesel::copy_from(answers::table)
            .from_raw_data((answers::product_id, answers::body), write)
            .with_format(CopyFormat::Binary)
            .with_freeze(true)
            .execute(conn))
    })?;
    Ok(written as u64)
}

/// One `(product_id int4, body text)` tuple of binary COPY data.
fn encode_answer(id: i32, body: &str) -> Vec<u8> {
    let len = i32::try_from(body.len()).unwrap_or(i32::MAX);
    let mut tuple = Vec::with_capacity(14 + body.len());
    tuple.extend_from_slice(&2i16.to_be_bytes());
    tuple.extend_from_slice(&4i32.to_be_bytes());
    tuple.extend_from_slice(&id.to_be_bytes());
    tuple.extend_from_slice(&len.to_be_bytes());
    tuple.extend_from_slice(body.as_bytes());
    tuple
}

/// The id ranges of the batches that start at `starts` (ascending): each up
/// to the id before the next start, the last one to the end of the ids.
fn batch_ranges(starts: &[i32]) -> Vec<(i32, i32)> {
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            // Ids are distinct, so the next start is above this one.
            let end = starts.get(k + 1).map_or(i32::MAX, |next| next - 1);
            (start, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{batch_ranges, encode_answer};

    #[test]
    fn batches_cover_every_id_once() {
        assert_eq!(batch_ranges(&[1, 5, 9]), [(1, 4), (5, 8), (9, i32::MAX)]);
        assert_eq!(batch_ranges(&[7]), [(7, i32::MAX)]);
        assert_eq!(
            batch_ranges(&[2, 987_654_326]),
            [(2, 987_654_325), (987_654_326, i32::MAX)]
        );
        assert_eq!(batch_ranges(&[]), []);
    }

    #[test]
    fn a_tuple_is_two_fields_with_their_lengths() {
        assert_eq!(
            encode_answer(258, "{}"),
            [0, 2, 0, 0, 0, 4, 0, 0, 1, 2, 0, 0, 0, 2, b'{', b'}']
        );
    }
}
