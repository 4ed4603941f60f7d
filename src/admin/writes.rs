//! The admin API's writes (and the one read it has, a style's photos with
//! their ids), each write one transaction that changes the rows,
//! stores the product's `/styles` answer again with the one renderer
//! (`catalog::queries::render_styles`, as `answers` does) and records
//! itself in `admin_audit`; so all of it commits, or none. The triggers on
//! the rows it changes announce the product (see `catalog::changes`): every
//! write that changes a row is announced once, by them.
//!
//! Two locks make this safe alongside everything else that writes:
//! - the import's advisory lock ([`IMPORT_LOCK`]), taken shared and without
//!   waiting: an import holds it from its start to its swap, and a write
//!   committed in between would vanish with the tables the swap drops, so
//!   the write is refused instead ([`WriteError::ImportRunning`]); while a
//!   write holds it, an import waits for it to commit;
//! - a lock on the product, held to the commit: two writes to one product
//!   (to two of its styles, say) would each render an answer without the
//!   other's change, and the last to commit would store a stale one. In
//!   turn, each renders what the one before committed.
//!
//! The triggers on the rows drop the stored answer a change touches; the
//! write stores the new one after its row changes, in the same transaction.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Integer};

use super::input::{NewPhoto, PhotoList, SkuChange, StyleChange, MAX_PHOTOS_PER_STYLE};
use crate::catalog::answers;
use crate::catalog::models::StyleWithChildren;
use crate::catalog::models::{NewAuditEntry, Photo, Sku};
use crate::catalog::queries::{find_product_styles, render_styles};
use crate::catalog::schema::{admin_audit, photos, skus, styles};
use crate::catalog::views::{AdminPhotoView, AdminSkuView, StyleView};
use crate::db::locks::{IMPORT_LOCK, PHOTO_IDS_LOCK, PRODUCT_LOCKS};
use crate::http::error::ApiError;

/// How long a write waits for a lock (the product, a row) before it is
/// refused as busy: longer than any write holds one.
const LOCK_TIMEOUT: &str = "5s";
/// What a client refused during an import is told to wait, in seconds: a
/// full import takes minutes, and its last step, the swap, takes moments.
pub const IMPORT_RETRY_AFTER_SECONDS: u32 = 30;

/// Why a write did not happen. Nothing of it was applied.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The resource does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The write contradicts the data; the message says how.
    #[error("{0}")]
    Conflict(String),
    /// An import is replacing the catalog.
    #[error("an import is replacing the catalog; nothing was written, try again when it is done")]
    ImportRunning,
    /// The database refused or failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// What a write did: the resource written (as rows), and the product whose
/// answers it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    pub product_id: i32,
    pub value: T,
}

/// Who writes: the configured name of the token.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a>(pub &'a str);

/// `PATCH /admin/styles/:id`.
pub fn update_style(
    conn: &mut PgConnection,
    author: Author<'_>,
    style_id: i32,
    change: &StyleChange,
) -> Result<Written<StyleWithChildren>, WriteError> {
    write(conn, |conn| {
        let product_id = hold_product(conn, Of::Style(style_id))?;
        let before = style_of(product_styles(conn, product_id)?, style_id)?;
        diesel::update(styles::table.find(style_id))
            .set(&change.changes())
            .execute(conn)?;
        let after = style_of(store_answer(conn, product_id)?, style_id)?;
        record(
            conn,
            NewAuditEntry {
                token_name: author.0,
                action: "update style",
                resource: "style",
                resource_id: style_id,
                product_id,
                change: json(change)?,
                before: Some(json(&StyleView::from(before))?),
                after: Some(json(&StyleView::from(after.clone()))?),
            },
        )?;
        Ok(Written {
            product_id,
            value: after,
        })
    })
}

/// `GET /admin/styles/:id/photos`: a style's photos in id order.
pub fn style_photos(conn: &mut PgConnection, style_id: i32) -> Result<Vec<Photo>, WriteError> {
    let exists: Option<i32> = styles::table
        .find(style_id)
        .select(styles::id)
        .first(conn)
        .optional()?;
    if exists.is_none() {
        return Err(Of::Style(style_id).missing());
    }
    Ok(photos_of(conn, style_id)?)
}

/// `POST /admin/styles/:id/photos`: one more photo, after the others.
pub fn add_photo(
    conn: &mut PgConnection,
    author: Author<'_>,
    style_id: i32,
    photo: &NewPhoto,
) -> Result<Written<Photo>, WriteError> {
    write(conn, |conn| {
        let product_id = hold_product(conn, Of::Style(style_id))?;
        let count: i64 = photos::table
            .filter(photos::style_id.eq(style_id))
            .count()
            .get_result(conn)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_PHOTOS_PER_STYLE {
            return Err(WriteError::Conflict(format!(
                "style {style_id} has {count} photos, the most a style may have; \
                 remove one first"
            )));
        }
        let id = *new_photo_ids(conn, 1)?.start();
        let added = Photo {
            id,
            style_id,
            url: photo.url.0.clone(),
            thumbnail_url: photo.thumbnail_url.0.clone(),
        };
        diesel::insert_into(photos::table)
            .values(&added)
            .execute(conn)?;
        store_answer(conn, product_id)?;
        record(
            conn,
            NewAuditEntry {
                token_name: author.0,
                action: "add photo",
                resource: "photo",
                resource_id: id,
                product_id,
                change: json(photo)?,
                before: None,
                after: Some(json(&AdminPhotoView::from(added.clone()))?),
            },
        )?;
        Ok(Written {
            product_id,
            value: added,
        })
    })
}

/// `PUT /admin/styles/:id/photos`: the style's photos become these, with
/// new ids, in this order.
pub fn replace_photos(
    conn: &mut PgConnection,
    author: Author<'_>,
    style_id: i32,
    list: &PhotoList,
) -> Result<Written<Vec<Photo>>, WriteError> {
    write(conn, |conn| {
        let product_id = hold_product(conn, Of::Style(style_id))?;
        let before = photos_of(conn, style_id)?;
        diesel::delete(photos::table.filter(photos::style_id.eq(style_id))).execute(conn)?;
        let ids = new_photo_ids(conn, list.0.len())?;
        let after: Vec<Photo> = ids
            .zip(&list.0)
            .map(|(id, photo)| Photo {
                id,
                style_id,
                url: photo.url.0.clone(),
                thumbnail_url: photo.thumbnail_url.0.clone(),
            })
            .collect();
        diesel::insert_into(photos::table)
            .values(&after)
            .execute(conn)?;
        store_answer(conn, product_id)?;
        record(
            conn,
            NewAuditEntry {
                token_name: author.0,
                action: "replace photos",
                resource: "style",
                resource_id: style_id,
                product_id,
                change: json(list)?,
                before: Some(json(&AdminPhotoView::all(before.iter().cloned()))?),
                after: Some(json(&AdminPhotoView::all(after.iter().cloned()))?),
            },
        )?;
        Ok(Written {
            product_id,
            value: after,
        })
    })
}

/// `DELETE /admin/photos/:id`: returns the photos its style has left.
pub fn remove_photo(
    conn: &mut PgConnection,
    author: Author<'_>,
    photo_id: i32,
) -> Result<Written<Vec<Photo>>, WriteError> {
    write(conn, |conn| {
        let product_id = hold_product(conn, Of::Photo(photo_id))?;
        let removed: Photo = photos::table
            .find(photo_id)
            .select(Photo::as_select())
            .first(conn)?;
        diesel::delete(photos::table.find(photo_id)).execute(conn)?;
        store_answer(conn, product_id)?;
        let left = photos_of(conn, removed.style_id)?;
        record(
            conn,
            NewAuditEntry {
                token_name: author.0,
                action: "remove photo",
                resource: "photo",
                resource_id: photo_id,
                product_id,
                change: serde_json::Value::Null,
                before: Some(json(&AdminPhotoView::from(removed))?),
                after: None,
            },
        )?;
        Ok(Written {
            product_id,
            value: left,
        })
    })
}

/// `PATCH /admin/skus/:id`.
pub fn update_sku(
    conn: &mut PgConnection,
    author: Author<'_>,
    sku_id: i32,
    change: &SkuChange,
) -> Result<Written<Sku>, WriteError> {
    write(conn, |conn| {
        let product_id = hold_product(conn, Of::Sku(sku_id))?;
        let before: Sku = skus::table
            .find(sku_id)
            .select(Sku::as_select())
            .first(conn)?;
        let after: Sku = diesel::update(skus::table.find(sku_id))
            .set(&change.changes())
            .returning(Sku::as_returning())
            .get_result(conn)?;
        store_answer(conn, product_id)?;
        record(
            conn,
            NewAuditEntry {
                token_name: author.0,
                action: "update sku",
                resource: "sku",
                resource_id: sku_id,
                product_id,
                change: json(change)?,
                before: Some(json(&AdminSkuView::from(before))?),
                after: Some(json(&AdminSkuView::from(after.clone()))?),
            },
        )?;
        Ok(Written {
            product_id,
            value: after,
        })
    })
}

#[derive(QueryableByName)]
struct Acquired {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    acquired: bool,
}

/// Runs `work` in one transaction, unless an import is running.
fn write<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, WriteError>,
) -> Result<T, WriteError> {
    conn.transaction(|conn| {
        diesel::sql_query(format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")).execute(conn)?;
        // Shared with other writes; refused while an import holds it, or
        // waits for it (a waiting import goes first).
        let import_idle =
            diesel::sql_query("SELECT pg_try_advisory_xact_lock_shared($1) AS acquired")
                .bind::<BigInt, _>(IMPORT_LOCK)
                .get_result::<Acquired>(conn)?;
        if !import_idle.acquired {
            return Err(WriteError::ImportRunning);
        }
        work(conn)
    })
}

/// What a write is about, to find its product.
#[derive(Debug, Clone, Copy)]
enum Of {
    Style(i32),
    Photo(i32),
    Sku(i32),
}

impl Of {
    /// Its product, `None` if it does not exist. Statements: 1.
    fn product(self, conn: &mut PgConnection) -> QueryResult<Option<i32>> {
        match self {
            Of::Style(id) => styles::table
                .find(id)
                .select(styles::product_id)
                .first(conn)
                .optional(),
            Of::Photo(id) => photos::table
                .inner_join(styles::table)
                .filter(photos::id.eq(id))
                .select(styles::product_id)
                .first(conn)
                .optional(),
            Of::Sku(id) => skus::table
                .inner_join(styles::table)
                .filter(skus::id.eq(id))
                .select(styles::product_id)
                .first(conn)
                .optional(),
        }
    }

    fn name(self) -> String {
        match self {
            Of::Style(id) => format!("style {id}"),
            Of::Photo(id) => format!("photo {id}"),
            Of::Sku(id) => format!("sku {id}"),
        }
    }

    fn missing(self) -> WriteError {
        WriteError::NotFound(format!("{} does not exist", self.name()))
    }
}

/// Takes the lock on the product `of` belongs to, until the commit, and
/// returns the product. It is looked up again once held: a hand edit may
/// have moved a style to another product meanwhile.
fn hold_product(conn: &mut PgConnection, of: Of) -> Result<i32, WriteError> {
    let mut product = of.product(conn)?.ok_or_else(|| of.missing())?;
    for _ in 0..3 {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<Integer, _>(PRODUCT_LOCKS)
            .bind::<Integer, _>(product)
            .execute(conn)?;
        match of.product(conn)? {
            Some(now) if now == product => return Ok(product),
            Some(now) => product = now,
            None => return Err(of.missing()),
        }
    }
    Err(WriteError::Conflict(format!(
        "{} keeps moving between products; try again",
        of.name()
    )))
}

/// The styles of product `id` with their photos and skus, as the renderer
/// takes them. Statements: 4.
fn product_styles(conn: &mut PgConnection, id: i32) -> Result<Vec<StyleWithChildren>, WriteError> {
    let mut found = find_product_styles(conn, &[id])?;
    match found.pop() {
        Some((_, styles)) => Ok(styles),
        None => Err(WriteError::NotFound(format!("product {id} does not exist"))),
    }
}

fn style_of(styles: Vec<StyleWithChildren>, id: i32) -> Result<StyleWithChildren, WriteError> {
    styles
        .into_iter()
        .find(|s| s.style.id == id)
        .ok_or_else(|| Of::Style(id).missing())
}

/// Renders and stores product `id`'s `/styles` answer from the rows as
/// this transaction sees them; returns the rows. Statements: 5.
fn store_answer(conn: &mut PgConnection, id: i32) -> Result<Vec<StyleWithChildren>, WriteError> {
    let styles = product_styles(conn, id)?;
    let body = render_styles(id, styles.clone())?;
    answers::store_rendered(conn, answers::Stored::Styles, vec![(id, body.0)])?;
    Ok(styles)
}

fn photos_of(conn: &mut PgConnection, style_id: i32) -> QueryResult<Vec<Photo>> {
    photos::table
        .filter(photos::style_id.eq(style_id))
        .order(photos::id)
        .select(Photo::as_select())
        .load(conn)
}

#[derive(QueryableByName)]
struct LastId {
    #[diesel(sql_type = BigInt)]
    last: i64,
}

/// `n` photo ids never used before, ascending: past the largest photo id
/// (an import or a hand edit may have brought larger ones) and past every
/// id handed out before (the sequence remembers removed photos' ids).
/// Handed out one write at a time, under a lock held to the commit. The
/// range is checked before the sequence moves: `setval` is not undone when
/// the write rolls back, so a sequence set past the last id would refuse
/// every later write, however few ids it asked for.
fn new_photo_ids(
    conn: &mut PgConnection,
    n: usize,
) -> Result<std::ops::RangeInclusive<i32>, WriteError> {
    let taken = |_| WriteError::Conflict("no photo ids are left".into());
    let n = i64::try_from(n).map_err(taken)?;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(PHOTO_IDS_LOCK)
        .execute(conn)?;
    let last = diesel::sql_query(
        "SELECT greatest((SELECT coalesce(max(id), 0) FROM photos),
                         (SELECT last_value FROM admin_photo_ids)) + $1 AS last",
    )
    .bind::<BigInt, _>(n)
    .get_result::<LastId>(conn)?
    .last;
    let last = i32::try_from(last).map_err(taken)?;
    let first = i32::try_from(i64::from(last) - n + 1).map_err(taken)?;
    diesel::sql_query("SELECT setval('admin_photo_ids', $1)")
        .bind::<BigInt, _>(i64::from(last))
        .execute(conn)?;
    Ok(first..=last)
}

/// Records the write, in the write's transaction.
fn record(conn: &mut PgConnection, entry: NewAuditEntry<'_>) -> Result<(), WriteError> {
    diesel::insert_into(admin_audit::table)
        .values(&entry)
        .execute(conn)?;
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, WriteError> {
    serde_json::to_value(value)
        .map_err(|e| WriteError::Database(diesel::result::Error::SerializationError(Box::new(e))))
}

/// The HTTP answer to each way a write can fail: mapped here, beside the
/// writes, so the HTTP layer below knows nothing of them.
impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        use diesel::result::DatabaseErrorKind;

        let busy = |message: &str| ApiError::RetryLater {
            message: message.into(),
            retry_after_seconds: 1,
        };
        match error {
            WriteError::NotFound(message) => ApiError::NotFound(message),
            WriteError::Conflict(message) => ApiError::Conflict(message),
            error @ WriteError::ImportRunning => ApiError::RetryLater {
                message: error.to_string(),
                retry_after_seconds: IMPORT_RETRY_AFTER_SECONDS,
            },
            WriteError::Database(error) => match &error {
                DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => ApiError::Conflict(
                    "the write collided with another change to the same rows; nothing was \
                     written, try again"
                        .into(),
                ),
                DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                    busy("the write collided with another one; nothing was written, try again")
                }
                // The server's words for a lock not had in time, and for a
                // deadlock it broke by cancelling this write.
                DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                    if info.message().contains("lock timeout")
                        || info.message().contains("deadlock detected") =>
                {
                    busy(
                        "another write holds what this one changes; nothing was written, try again",
                    )
                }
                _ => ApiError::from(error),
            },
        }
    }
}
