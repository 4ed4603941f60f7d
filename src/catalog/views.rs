//! Response types: the JSON of the Atelier contract (`docs/openapi.yaml`), field
//! for field and in the contract's order, built `From` the row models; and
//! the admin API's, which are the public ones with the ids an admin needs;
//! `/categories`'; and `/ready`'s.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::catalog::models::{CategoryCount, Feature, Photo, Product, Sku};
use crate::catalog::models::{ProductWithFeatures, StyleWithChildren};
use crate::db::replicas::{ReplicaState, ReplicaStatus};

/// A whole-unit price, written as a string with exactly two decimals ("140.00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(pub i32);

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}.00", self.0))
    }
}

/// An instant written as RFC 3339 UTC with milliseconds: "2021-08-13T14:39:39.968Z".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

/// One entry of `GET /products`.
#[derive(Debug, Serialize)]
pub struct ProductView<'a> {
    pub id: i32,
    pub campus: &'a str,
    pub name: String,
    pub slogan: String,
    pub description: String,
    pub category: String,
    pub default_price: Price,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<'a> ProductView<'a> {
    /// The view of a product row for the configured campus.
    /// The list shape of `rows`, in their order: a page of products, or
    /// of a search's results.
    pub fn list(rows: Vec<Product>, campus: &'a str) -> Vec<Self> {
        rows.into_iter()
            .map(|row| ProductView::new(row, campus))
            .collect()
    }

    pub fn new(row: Product, campus: &'a str) -> Self {
        ProductView {
            id: row.id,
            campus,
            name: row.name,
            slogan: row.slogan,
            description: row.description,
            category: row.category,
            default_price: Price(row.default_price),
            created_at: Timestamp(row.created_at),
            updated_at: Timestamp(row.updated_at),
        }
    }
}

/// `GET /products/:id`: the product's fields followed by `features`.
#[derive(Debug, Serialize)]
pub struct ProductDetailView<'a> {
    #[serde(flatten)]
    pub product: ProductView<'a>,
    pub features: Vec<FeatureView>,
}

impl<'a> ProductDetailView<'a> {
    /// The view of a product and its features for the configured campus.
    pub fn new((product, features): ProductWithFeatures, campus: &'a str) -> Self {
        ProductDetailView {
            product: ProductView::new(product, campus),
            features: features.into_iter().map(FeatureView::from).collect(),
        }
    }
}

/// A product's `GET /products/:id` answer without its first two members:
/// everything after `"campus":…,` (from `"name":` to the closing brace).
/// What `product_answers` stores, and what the renderer makes for a product
/// without a stored answer: the campus is this instance's setting, so the
/// stored text is the same whatever it is, and [`ProductBody::answer`]
/// writes the id and campus in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductBody(pub String);

impl ProductBody {
    /// The members [`ProductDetailView`] writes before the body's, for the
    /// campus it was rendered with (`campus_json`, the campus as JSON).
    fn head(id: i32, campus_json: &str) -> String {
        format!("{{\"id\":{id},\"campus\":{campus_json},")
    }

    /// Renders `found` with the one renderer, [`ProductDetailView`] through
    /// serde, and keeps what follows the campus.
    pub fn render(found: ProductWithFeatures) -> Result<Self, serde_json::Error> {
        let id = found.0.id;
        let whole = serde_json::to_string(&ProductDetailView::new(found, ""))?;
        match whole.strip_prefix(&Self::head(id, "\"\"")) {
            Some(rest) => Ok(ProductBody(rest.to_owned())),
            None => Err(serde::ser::Error::custom(
                "a product's answer does not start with its id and campus",
            )),
        }
    }

    /// The whole answer of product `id` for `campus`: the bytes
    /// [`ProductDetailView`] would give.
    pub fn answer(&self, id: i32, campus: &str) -> Result<Vec<u8>, serde_json::Error> {
        let campus_json = serde_json::to_string(campus)?;
        let head = Self::head(id, &campus_json);
        let mut answer = Vec::with_capacity(head.len() + self.0.len());
        answer.extend_from_slice(head.as_bytes());
        answer.extend_from_slice(self.0.as_bytes());
        Ok(answer)
    }
}

/// One entry of a product's `features`.
#[derive(Debug, Serialize)]
pub struct FeatureView {
    pub feature: String,
    pub value: Option<String>,
}

impl From<Feature> for FeatureView {
    fn from(row: Feature) -> Self {
        FeatureView {
            feature: row.feature,
            value: row.value,
        }
    }
}

/// One entry of `GET /categories`.
#[derive(Debug, Serialize)]
pub struct CategoryCountView {
    pub category: String,
    pub count: i64,
}

impl From<CategoryCount> for CategoryCountView {
    fn from(row: CategoryCount) -> Self {
        CategoryCountView {
            category: row.category,
            count: row.count,
        }
    }
}

/// `GET /products/:id/styles`.
#[derive(Debug, Serialize)]
pub struct StylesView {
    /// A string in the contract, unlike every other id.
    pub product_id: String,
    pub results: Vec<StyleView>,
}

impl StylesView {
    /// The view of a product's styles.
    pub fn new(product_id: i32, styles: Vec<StyleWithChildren>) -> Self {
        StylesView {
            product_id: product_id.to_string(),
            results: styles.into_iter().map(StyleView::from).collect(),
        }
    }
}

/// One entry of `results`.
#[derive(Debug, Serialize)]
pub struct StyleView {
    pub style_id: i32,
    pub name: String,
    pub original_price: Price,
    pub sale_price: Option<Price>,
    #[serde(rename = "default?")]
    pub default: bool,
    pub photos: Vec<PhotoView>,
    pub skus: SkusView,
}

impl From<StyleWithChildren> for StyleView {
    fn from(
        StyleWithChildren {
            style,
            photos,
            skus,
        }: StyleWithChildren,
    ) -> Self {
        StyleView {
            style_id: style.id,
            name: style.name,
            original_price: Price(style.original_price),
            sale_price: style.sale_price.map(Price),
            default: style.default_style,
            photos: if photos.is_empty() {
                vec![PhotoView::NONE]
            } else {
                photos.into_iter().map(PhotoView::from).collect()
            },
            skus: SkusView(skus),
        }
    }
}

/// One photo: `thumbnail_url` first, then `url`, as the contract orders them.
#[derive(Debug, Serialize)]
pub struct PhotoView {
    pub thumbnail_url: Option<String>,
    pub url: Option<String>,
}

impl PhotoView {
    /// The one photo of a style that has none: both fields null. The live API
    /// answered so, and front ends read `photos[0].thumbnail_url` unguarded.
    pub const NONE: PhotoView = PhotoView {
        thumbnail_url: None,
        url: None,
    };
}

impl From<Photo> for PhotoView {
    fn from(row: Photo) -> Self {
        PhotoView {
            thumbnail_url: Some(row.thumbnail_url),
            url: Some(row.url),
        }
    }
}

/// A style's skus as a JSON object keyed by sku id (as a string), in the order
/// of the rows, which the query sorts by id. A map type would sort the keys as
/// strings ("10" before "9"), so the rows are written out directly. A style
/// without skus is one entry keyed `"null"` whose fields are null, as the live
/// API answered: front ends look for that key to show "out of stock".
#[derive(Debug)]
pub struct SkusView(pub Vec<Sku>);

#[derive(Serialize)]
struct SkuEntry<'a> {
    quantity: i32,
    size: &'a str,
}

#[derive(Serialize)]
struct NoSkuEntry {
    quantity: Option<i32>,
    size: Option<&'static str>,
}

impl Serialize for SkusView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(
                "null",
                &NoSkuEntry {
                    quantity: None,
                    size: None,
                },
            )?;
            return map.end();
        }
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for sku in &self.0 {
            map.serialize_entry(
                &sku.id,
                &SkuEntry {
                    quantity: sku.quantity,
                    size: &sku.size,
                },
            )?;
        }
        map.end()
    }
}

/// A photo as the admin API answers it: the public photo's fields after its
/// id, which `DELETE /admin/photos/:id` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminPhotoView {
    pub photo_id: i32,
    pub thumbnail_url: String,
    pub url: String,
}

impl AdminPhotoView {
    /// The admin API's answer for a style's photos, in their order.
    pub fn all(photos: impl IntoIterator<Item = Photo>) -> Vec<Self> {
        photos.into_iter().map(AdminPhotoView::from).collect()
    }
}

impl From<Photo> for AdminPhotoView {
    fn from(row: Photo) -> Self {
        AdminPhotoView {
            photo_id: row.id,
            thumbnail_url: row.thumbnail_url,
            url: row.url,
        }
    }
}

/// A sku as the admin API answers it: the public entry's fields after its id
/// (the key of the entry in `skus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminSkuView {
    pub sku_id: i32,
    pub quantity: i32,
    pub size: String,
}

impl From<Sku> for AdminSkuView {
    fn from(row: Sku) -> Self {
        AdminSkuView {
            sku_id: row.id,
            quantity: row.quantity,
            size: row.size,
        }
    }
}

/// The answer of `GET /ready`: ready, and what each read replica is to reads.
#[derive(Debug, Serialize)]
pub struct ReadyView {
    pub status: &'static str,
    pub replicas: Vec<ReplicaView>,
}

impl ReadyView {
    /// Ready, with `replicas` as the read pools see them.
    pub fn new(replicas: Vec<ReplicaStatus>) -> Self {
        ReadyView {
            status: "ready",
            replicas: replicas.into_iter().map(ReplicaView::from).collect(),
        }
    }
}

/// One read replica in `GET /ready`.
#[derive(Debug, Serialize)]
pub struct ReplicaView {
    /// `host:port/database`, never credentials.
    pub name: String,
    /// `in_use`, `lagging` (skipped: behind the primary) or `down`.
    pub state: &'static str,
    /// Seconds behind the primary, to the millisecond; null while unknown.
    pub lag_seconds: Option<f64>,
}

impl From<ReplicaStatus> for ReplicaView {
    fn from(status: ReplicaStatus) -> Self {
        ReplicaView {
            name: status.name,
            state: match status.state {
                ReplicaState::InUse => "in_use",
                ReplicaState::Lagging => "lagging",
                ReplicaState::Down => "down",
            },
            lag_seconds: status
                .lag
                .map(|lag| (lag.as_secs_f64() * 1000.0).round() / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn found(id: i32) -> ProductWithFeatures {
        let at = Utc.timestamp_millis_opt(1_628_865_579_968).unwrap();
        let product = Product {
            id,
            name: "Camo \"Onesie\"".into(),
            slogan: "Blend in".into(),
            description: "ü, \\ and\nnewline".into(),
            category: "Jackets".into(),
            default_price: 140,
            created_at: at,
            updated_at: at,
        };
        let features = vec![
            Feature {
                id: 7,
                product_id: id,
                feature: "Fabric".into(),
                value: Some("Canvas".into()),
            },
            Feature {
                id: 9,
                product_id: id,
                feature: "Buttons".into(),
                value: None,
            },
        ];
        (product, features)
    }

    #[test]
    fn a_product_body_gives_the_detail_views_bytes_for_any_campus() {
        for (id, campus) in [
            (1, "hr-lax"),
            (987_654_326, "a \"quoted\" \\ campus ü"),
            (-3, ""),
        ] {
            let body = ProductBody::render(found(id)).unwrap();
            let expected = serde_json::to_vec(&ProductDetailView::new(found(id), campus)).unwrap();
            assert_eq!(
                String::from_utf8(body.answer(id, campus).unwrap()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn a_product_body_is_what_follows_the_campus() {
        let body = ProductBody::render(found(5)).unwrap();
        assert_eq!(
            body.0,
            concat!(
                r#""name":"Camo \"Onesie\"","slogan":"Blend in","#,
                r#""description":"ü, \\ and\nnewline","category":"Jackets","#,
                r#""default_price":"140.00","created_at":"2021-08-13T14:39:39.968Z","#,
                r#""updated_at":"2021-08-13T14:39:39.968Z","features":["#,
                r#"{"feature":"Fabric","value":"Canvas"},{"feature":"Buttons","value":null}]}"#
            )
        );
    }
}
