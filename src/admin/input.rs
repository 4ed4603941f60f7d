//! What the admin API accepts: JSON bodies parsed into types that can only
//! hold valid values (prices in whole units within the dump's range,
//! quantities >= 0, absolute http(s) URLs that every parser reads alike,
//! names and sizes a front end shows as they were stored), and the data
//! guard that reads them, answering 400 with a sentence that names the
//! field at fault, or 413 past the limit.

use std::fmt;

use rocket::data::{Data, FromData, Outcome};
use rocket::Request;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::catalog::models::{SkuChanges, StyleChanges};
use crate::catalog::views::Price;
use crate::http::error::ApiError;

/// The largest price the dump holds, in whole units.
pub const MAX_PRICE: i32 = 500_000_000;
/// The most photos a style may have.
pub const MAX_PHOTOS_PER_STYLE: usize = 100;
/// The longest URL, in bytes: what browsers and CDNs reliably take.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest style name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The longest sku size, in characters.
pub const MAX_SIZE_CHARS: usize = 100;

/// A body the admin API reads: its type says what it may hold, and
/// [`AdminBody::check`] what the fields cannot say alone.
pub trait AdminBody: DeserializeOwned {
    /// Whether the JSON, known to be well-formed, has the body's shape: an
    /// object, unless said otherwise. (Serde would take a struct from an
    /// array, by position.) Reads the bytes without building anything.
    fn shape(json: &[u8]) -> Result<(), String> {
        if first_byte(json) == Some(b'{') {
            Ok(())
        } else {
            Err("the body must be a JSON object".into())
        }
    }

    /// Whether the body as a whole makes sense; the error is the sentence.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The first byte of a JSON text past its leading white space.
fn first_byte(json: &[u8]) -> Option<u8> {
    json.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The data guard of the admin API: a JSON body of type `T`, within the
/// admin API's own body limit. As `Result<AdminJson<T>, ApiError>` in a
/// handler, so the handler decides which error comes first. The token is
/// checked before a byte of the body is read: a request without a valid
/// one costs no body read and no parse.
#[derive(Debug)]
pub struct AdminJson<T>(pub T);

#[rocket::async_trait]
impl<'r, T: AdminBody> FromData<'r> for AdminJson<T> {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r, Self> {
        if let rocket::outcome::Outcome::Error((status, error)) =
            request.guard::<super::Admin<'_>>().await
        {
            return Outcome::Error((status, error));
        }
        match read_body(request, data).await {
            Ok(value) => Outcome::Success(AdminJson(value)),
            Err(error) => Outcome::Error((error.status(), error)),
        }
    }
}

/// How long a client may take to send an admin body once its headers are
/// in: a body declared and never sent would otherwise hold the request
/// open for good.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn read_body<T: AdminBody>(request: &Request<'_>, data: Data<'_>) -> Result<T, ApiError> {
    if let Some(content_type) = request.content_type() {
        if !content_type.is_json() {
            return Err(ApiError::BadRequest(format!(
                "the body must be JSON (Content-Type: application/json), not {content_type}"
            )));
        }
    }
    let limit = request
        .rocket()
        .state::<crate::config::Settings>()
        .map_or(DEFAULT_MAX_BODY_BYTES, |s| s.admin_max_body_bytes);
    let too_large = || {
        ApiError::TooLarge(format!(
            "the body is larger than the {limit} bytes an admin request may carry"
        ))
    };
    let declared = request
        .headers()
        .get_one("Content-Length")
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = data.open(rocket::data::ByteUnit::from(limit)).into_bytes();
    let bytes = rocket::tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the body did not arrive within {} seconds",
                BODY_READ_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
    if !bytes.is_complete() {
        return Err(too_large());
    }
    parse_body(&bytes)
}

/// The admin body limit unless `ATELIER_ADMIN_MAX_BODY_BYTES` says
/// otherwise: above the largest valid body (a hundred photos, each of two
/// URLs of `MAX_URL_BYTES`, about 415 KB), so every valid write fits and an
/// invalid one is told what is wrong with it.
pub const DEFAULT_MAX_BODY_BYTES: u64 = crate::config::DEFAULT_ADMIN_MAX_BODY_BYTES;

/// Parses and checks a body. Its errors name the field at fault. The bytes
/// are parsed into values once; the syntax and the shape are checked first
/// on the bytes alone, so that a malformed body is told as such.
pub fn parse_body<T: AdminBody>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    T::shape(bytes).map_err(ApiError::BadRequest)?;
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        // The path of an unknown field ends in that field: the sentence
        // names it already, and is about the object that holds it.
        if inner.to_string().starts_with("unknown field") {
            path = path
                .rsplit_once('.')
                .map_or(".", |(holder, _)| holder)
                .to_string();
        }
        ApiError::BadRequest(if path == "." || path == "?" {
            format!("the body: {inner}")
        } else {
            format!("{path}: {inner}")
        })
    })?;
    json.end()
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    value.check().map_err(ApiError::BadRequest)?;
    Ok(value)
}

/// Deserializes a field that is there, even as `null`: with `default`, a
/// missing field is `None` and `"field": null` goes to `T` (which refuses
/// it, or, for an `Option`, takes it as "clear").
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A price in whole units, as the contract writes it (`"99.00"`) or as a
/// JSON number (`99`, `99.0`), from 0 to [`MAX_PRICE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholePrice(pub i32);

impl WholePrice {
    fn within_range<E: de::Error>(units: i128) -> Result<WholePrice, E> {
        if units < 0 {
            return Err(E::custom(format!(
                "a price cannot be negative, got {units}"
            )));
        }
        match i32::try_from(units) {
            Ok(units) if units <= MAX_PRICE => Ok(WholePrice(units)),
            _ => Err(E::custom(format!(
                "a price is at most {MAX_PRICE} (the catalog's range), got {units}"
            ))),
        }
    }
}

impl Serialize for WholePrice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Price(self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for WholePrice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PriceVisitor;

        impl Visitor<'_> for PriceVisitor {
            type Value = WholePrice;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price in whole units, like 99 or \"99.00\"")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WholePrice, E> {
                WholePrice::within_range(i128::from(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WholePrice, E> {
                WholePrice::within_range(i128::from(v))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WholePrice, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::custom(format!(
                        "a price is in whole units (the catalog keeps no cents), got {v}"
                    )));
                }
                // Whole and finite: the cast is exact within the range checked.
                WholePrice::within_range(v.clamp(-1.0, f64::from(MAX_PRICE) + 1.0) as i128)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<WholePrice, E> {
                let (units, cents) = v.split_once('.').unwrap_or((v, "00"));
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if let Some(positive) = units.strip_prefix('-') {
                    if digits(positive) {
                        return Err(E::custom(format!("a price cannot be negative, got {v:?}")));
                    }
                }
                if !digits(units) || !digits(cents) {
                    return Err(E::custom(format!(
                        "a price is written like \"99.00\" or 99, got {v:?}"
                    )));
                }
                if cents.bytes().any(|b| b != b'0') {
                    return Err(E::custom(format!(
                        "a price is in whole units (the catalog keeps no cents), got {v:?}"
                    )));
                }
                // Past 12 digits it is out of range whatever the digits.
                let units = if units.len() > 12 {
                    i128::MAX
                } else {
                    units.parse().unwrap_or(i128::MAX)
                };
                WholePrice::within_range(units)
            }
        }

        d.deserialize_any(PriceVisitor)
    }
}

/// A stock count: a whole number from 0 to 2^31 - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub i32);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;

        impl QuantityVisitor {
            fn within_range<E: de::Error>(v: i128) -> Result<Quantity, E> {
                if v < 0 {
                    return Err(E::custom(format!("a quantity cannot be negative, got {v}")));
                }
                i32::try_from(v)
                    .map(Quantity)
                    .map_err(|_| E::custom(format!("a quantity is at most {}, got {v}", i32::MAX)))
            }
        }

        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of items, 0 or more")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Self::within_range(i128::from(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Self::within_range(i128::from(v))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::custom(format!("a quantity is a whole number, got {v}")));
                }
                Self::within_range(v.clamp(-1.0, f64::from(i32::MAX) + 1.0) as i128)
            }
        }

        d.deserialize_any(QuantityVisitor)
    }
}

/// Checks free text an admin sets: stored and served exactly as sent
/// (quotes, backslashes, markup and any script included), but not empty,
/// not longer than `max` characters, and without characters that a front
/// end would show as something other than what was stored: NUL (which
/// PostgreSQL's text cannot hold), the other C0 and C1 control characters
/// (tabs, line breaks, terminal escapes) and the bidirectional formatting
/// characters (U+202A-U+202E, U+2066-U+2069) that make text read in another
/// order than it is written.
fn checked_text<E: de::Error>(text: String, max: usize) -> Result<String, E> {
    if text.trim().is_empty() {
        return Err(E::custom("must not be empty or only white space"));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(E::custom(format!(
            "must be at most {max} characters long, got {chars}"
        )));
    }
    if text.contains('\0') {
        return Err(E::custom(
            "must not contain the NUL character (\\u0000), which the database cannot store",
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(E::custom(format!(
            "must not contain control characters (tabs, line breaks, escapes: \
             U+0001-U+001F, U+007F-U+009F), got U+{:04X}",
            u32::from(c)
        )));
    }
    if let Some(c) = text.chars().find(|&c| is_bidi_formatting(c)) {
        return Err(E::custom(bidi_message(c)));
    }
    Ok(text)
}

/// The characters that reorder the text around them when it is shown: the
/// embeddings and overrides (U+202A-U+202E) and the isolates
/// (U+2066-U+2069).
fn is_bidi_formatting(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn bidi_message(c: char) -> String {
    format!(
        "must not contain bidirectional formatting characters \
         (U+202A-U+202E, U+2066-U+2069), which make text read in another order \
         than it is written, got U+{:04X}",
        u32::from(c)
    )
}

/// A style's name: see [`checked_text`], at most [`MAX_NAME_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StyleName(pub String);

impl<'de> Deserialize<'de> for StyleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_text(String::deserialize(d)?, MAX_NAME_CHARS).map(StyleName)
    }
}

/// A sku's size: see [`checked_text`], at most [`MAX_SIZE_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SkuSize(pub String);

impl<'de> Deserialize<'de> for SkuSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_text(String::deserialize(d)?, MAX_SIZE_CHARS).map(SkuSize)
    }
}

/// An absolute `http://` or `https://` URL that every parser reads the
/// same way: at most [`MAX_URL_BYTES`]; no white space, control or
/// bidirectional formatting characters, and no backslash (browsers read it
/// as `/`, other parsers do not: percent-encode them); a host that is a
/// domain name (letters, digits, `-` and `_`, the last label starting with
/// a letter; international names in their `xn--` form) or an IPv4 address
/// in dotted decimal; no user name or password; a port of at most 65535.
/// It must then parse with the `url` crate, the WHATWG URL standard that
/// browsers follow. Kept exactly as sent, never normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(pub String);

impl HttpUrl {
    fn check(url: &str) -> Result<(), String> {
        if url.len() > MAX_URL_BYTES {
            return Err(format!(
                "must be at most {MAX_URL_BYTES} bytes long, got {}",
                url.len()
            ));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "must not contain white space or control characters (percent-encode them)".into(),
            );
        }
        if let Some(c) = url.chars().find(|&c| is_bidi_formatting(c)) {
            return Err(bidi_message(c));
        }
        if url.contains('\\') {
            return Err(
                "must not contain a backslash, which browsers read as a slash (percent-encode it: %5C)"
                    .into(),
            );
        }
        let shown: String = url.chars().take(80).collect();
        let rest = ["http://", "https://"].iter().find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &url[scheme.len()..])
        });
        let Some(rest) = rest else {
            return Err(format!(
                "must be an absolute http:// or https:// URL, got {shown:?}"
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(format!(
                "must not carry a user name or password, got {shown:?}"
            ));
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(format!("must name a host, got {shown:?}"));
        }
        if !is_domain_name(host) && !is_dotted_ipv4(host) {
            return Err(format!(
                "must name its host by a domain name (letters, digits, '-' and '_', the last \
                 label starting with a letter) or an IPv4 address, got {shown:?}"
            ));
        }
        if let Some(port) = port {
            let digits = port.trim_start_matches('0');
            let valid = !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && digits.len() <= 5
                && (digits.is_empty() || digits.parse::<u16>().is_ok());
            if !valid {
                return Err(format!(
                    "has a port that is not a number up to 65535: {shown:?}"
                ));
            }
        }
        match url::Url::parse(url) {
            Ok(parsed) if parsed.host().is_some() => Ok(()),
            Ok(_) => Err(format!("must name a host, got {shown:?}")),
            Err(e) => Err(format!("is not a valid URL ({e}): {shown:?}")),
        }
    }
}

/// Labels of letters, digits, `-` and `_`, the last starting with a letter,
/// so that no parser takes it for a number or an IPv4 address.
fn is_domain_name(host: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut labels = host.rsplit('.');
    let last = labels.next().unwrap_or("");
    label_ok(last) && last.as_bytes()[0].is_ascii_alphabetic() && labels.all(label_ok)
}

/// Four decimal numbers of 0 to 255 without leading zeros, which parsers
/// would read as octal.
fn is_dotted_ipv4(host: &str) -> bool {
    let octet_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u8>().is_ok()
    };
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts.iter().all(|part| octet_ok(part))
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let url = String::deserialize(d)?;
        HttpUrl::check(&url).map_err(de::Error::custom)?;
        Ok(HttpUrl(url))
    }
}

/// `PATCH /admin/styles/:id`: the fields to change, each optional; at
/// least one. `"sale_price": null` ends a sale.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StyleChange {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<StyleName>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_price: Option<WholePrice>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub sale_price: Option<Option<WholePrice>>,
    #[serde(
        rename = "default?",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<bool>,
}

impl StyleChange {
    /// The columns this change sets.
    pub fn changes(&self) -> StyleChanges {
        StyleChanges {
            name: self.name.as_ref().map(|n| n.0.clone()),
            sale_price: self.sale_price.map(|p| p.map(|p| p.0)),
            original_price: self.original_price.map(|p| p.0),
            default_style: self.default,
        }
    }
}

impl AdminBody for StyleChange {
    fn check(&self) -> Result<(), String> {
        if self.changes() == StyleChanges::default() {
            return Err(
                "the body changes nothing: give at least one of name, original_price, \
                 sale_price and default?"
                    .into(),
            );
        }
        Ok(())
    }
}

/// `PATCH /admin/skus/:id`: the fields to change, each optional; at least
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SkuChange {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub quantity: Option<Quantity>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<SkuSize>,
}

impl SkuChange {
    /// The columns this change sets.
    pub fn changes(&self) -> SkuChanges {
        SkuChanges {
            size: self.size.as_ref().map(|s| s.0.clone()),
            quantity: self.quantity.map(|q| q.0),
        }
    }
}

impl AdminBody for SkuChange {
    fn check(&self) -> Result<(), String> {
        if self.changes() == SkuChanges::default() {
            return Err("the body changes nothing: give quantity, size or both".into());
        }
        Ok(())
    }
}

/// A photo to add: both URLs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewPhoto {
    pub thumbnail_url: HttpUrl,
    pub url: HttpUrl,
}

impl AdminBody for NewPhoto {}

/// Finds, in a JSON array, the position (from 1) of the first element that
/// is not an object, reading past the others without keeping them.
struct FirstNonObject;

impl<'de> Visitor<'de> for FirstNonObject {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
        let mut at = 0;
        let mut first = None;
        while let Some(is_object) = seq.next_element::<IsObject>()? {
            at += 1;
            if !is_object.0 && first.is_none() {
                first = Some(at);
            }
        }
        Ok(first)
    }
}

/// Whether a JSON value is an object; its content is skipped, not kept.
struct IsObject(bool);

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Probe;
        impl<'de> Visitor<'de> for Probe {
            type Value = IsObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<IsObject, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IsObject(true))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<IsObject, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(IsObject(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_unit<E>(self) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
        }
        d.deserialize_any(Probe)
    }
}

/// `PUT /admin/styles/:id/photos`: every photo of the style, in the order
/// they are shown; at most [`MAX_PHOTOS_PER_STYLE`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PhotoList(pub Vec<NewPhoto>);

impl AdminBody for PhotoList {
    fn shape(json: &[u8]) -> Result<(), String> {
        if first_byte(json) != Some(b'[') {
            return Err("the body must be a JSON array of photos".into());
        }
        let mut reader = serde_json::Deserializer::from_slice(json);
        match reader.deserialize_seq(FirstNonObject) {
            Ok(Some(at)) => Err(format!("photo {at} of the body must be a JSON object")),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("the body is not valid JSON: {e}")),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.0.len() > MAX_PHOTOS_PER_STYLE {
            return Err(format!(
                "a style has at most {MAX_PHOTOS_PER_STYLE} photos, the body has {}",
                self.0.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn error<T: AdminBody + fmt::Debug>(body: &str) -> String {
        match parse_body::<T>(body.as_bytes()) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn prices_in_whole_units_within_the_dumps_range() {
        for (body, price) in [
            (r#"{"original_price":"99.00"}"#, 99),
            (r#"{"original_price":99}"#, 99),
            (r#"{"original_price":99.0}"#, 99),
            (r#"{"original_price":"0.00"}"#, 0),
            (r#"{"original_price":"500000000.00"}"#, MAX_PRICE),
        ] {
            let change: StyleChange = parse_body(body.as_bytes()).unwrap();
            assert_eq!(change.original_price, Some(WholePrice(price)), "{body}");
        }
        let sale_cleared: StyleChange = parse_body(br#"{"sale_price":null}"#).unwrap();
        assert_eq!(sale_cleared.sale_price, Some(None));
        for (body, expected) in [
            (r#"{"original_price":"99.5"}"#, "original_price: a price is in whole units (the catalog keeps no cents), got \"99.5\""),
            (r#"{"original_price":"99,00"}"#, r#"original_price: a price is written like "99.00" or 99, got "99,00""#),
            (r#"{"original_price":"99.50"}"#, "original_price: a price is in whole units (the catalog keeps no cents), got \"99.50\""),
            (r#"{"original_price":99.5}"#, "original_price: a price is in whole units (the catalog keeps no cents), got 99.5"),
            (r#"{"original_price":-1}"#, "original_price: a price cannot be negative, got -1"),
            (r#"{"original_price":"-1.00"}"#, "original_price: a price cannot be negative, got \"-1.00\""),
            (r#"{"original_price":500000001}"#, "original_price: a price is at most 500000000 (the catalog's range), got 500000001"),
            (r#"{"original_price":"99999999999999999999.00"}"#, "a price is at most 500000000"),
            (r#"{"original_price":null}"#, "original_price: invalid type: null, expected a price in whole units"),
            (r#"{"original_price":true}"#, "original_price: invalid type: boolean `true`"),
        ] {
            let message = error::<StyleChange>(body);
            assert!(message.starts_with(expected) || message.contains(expected), "{body}: {message}");
        }
    }

    #[test]
    fn bodies_that_say_nothing_or_too_much() {
        assert_eq!(
            error::<StyleChange>("{}"),
            "the body changes nothing: give at least one of name, original_price, sale_price and default?"
        );
        let unknown = error::<StyleChange>(r#"{"salePrice":"9.00"}"#);
        assert!(unknown.contains("unknown field `salePrice`"), "{unknown}");
        let syntax = error::<StyleChange>(r#"{"name":"x""#);
        assert!(
            syntax.starts_with("the body is not valid JSON: "),
            "{syntax}"
        );
        let trailing = error::<StyleChange>(r#"{"name":"x"} {}"#);
        assert!(
            trailing.starts_with("the body is not valid JSON: trailing characters"),
            "{trailing}"
        );
        assert!(error::<SkuChange>(r#"{"quantity":-1}"#)
            .starts_with("quantity: a quantity cannot be negative, got -1"));
        assert!(error::<SkuChange>(r#"{"quantity":"5"}"#)
            .starts_with("quantity: invalid type: string \"5\""));
        assert!(error::<SkuChange>(r#"{"size":""}"#).starts_with("size: must not be empty"));
        assert!(error::<SkuChange>(r#"{"size":"a\u0000b"}"#)
            .starts_with("size: must not contain the NUL character"));
        for (text, code) in [
            ("a\\tb", "U+0009"),
            ("a\\nb", "U+000A"),
            ("\\u001b[31mred", "U+001B"),
            ("a\\u007f", "U+007F"),
            ("a\\u009bb", "U+009B"),
        ] {
            let message = error::<StyleChange>(&format!(r#"{{"name":"{text}"}}"#));
            assert!(
                message.starts_with("name: must not contain control characters")
                    && message.contains(code),
                "{message}"
            );
        }
        for code in ["202A", "202E", "2066", "2069"] {
            let message = error::<SkuChange>(&format!(r#"{{"size":"XL\u{code}"}}"#));
            assert!(
                message.starts_with("size: must not contain bidirectional formatting")
                    && message.contains(&format!("U+{code}")),
                "{message}"
            );
        }
        for text in [
            "caf\u{e9} \u{1F600} </script>",
            "\u{5E9}\u{5DC}\u{5D5}\u{5DD} 42",
            "a\u{200F}b",
        ] {
            let body = serde_json::json!({ "name": text }).to_string();
            assert!(parse_body::<StyleChange>(body.as_bytes()).is_ok(), "{text}");
        }
        let long = format!(r#"{{"size":"{}"}}"#, "s".repeat(101));
        assert!(error::<SkuChange>(&long)
            .starts_with("size: must be at most 100 characters long, got 101"));
    }

    #[test]
    fn urls_are_absolute_http_with_a_host() {
        let ok = |url: &str| HttpUrl::check(url).map_err(|e| format!("{url}: {e}"));
        for url in [
            "https://images.example.com/a?w=300&q=80",
            "HTTP://x",
            "http://x.example:8080/p",
            "http://x.example:00080/p",
            "http://192.168.0.10/p.jpg",
            "http://0.0.0.0",
            "https://cdn_1.img-host.example/x#y",
            "https://xn--bcher-kva.example/",
            "https://x.example/';DROP/**/TABLE/**/photos;--\"%5C",
            "https://x.example/caf\u{e9}/\u{1F600}",
        ] {
            ok(url).unwrap();
        }
        for (url, expected) in [
            (
                "ftp://x.example/",
                "must be an absolute http:// or https:// URL",
            ),
            ("/relative", "must be an absolute"),
            ("https://", "must name a host"),
            ("https:///path", "must name a host"),
            ("https://:80/", "must name a host"),
            ("https://x.example:99999/", "has a port"),
            ("https://x.example:+80/", "has a port"),
            ("https://x.example:/", "has a port"),
            ("https://x.example/a b", "white space"),
            ("https://x.example/a\u{1}", "control characters"),
            ("https://x.example/a\u{85}", "control characters"),
            ("https://x.example/\u{202E}gpj.exe", "U+202E"),
            ("http://[abc", "must name its host by a domain name"),
            ("http://[::1]x", "must name its host by a domain name"),
            ("http://[::1]/", "must name its host by a domain name"),
            ("https://a\\@b/", "backslash"),
            ("https://x.example/a\\b", "backslash"),
            ("http://user@x.example/", "user name or password"),
            ("http://user:pw@x.example/", "user name or password"),
            ("http://a.1/", "must name its host"),
            ("http://1.2.3.4.5/", "must name its host"),
            ("http://1.2.3.256/", "must name its host"),
            ("http://01.2.3.4/", "must name its host"),
            ("http://0x7f.1/", "must name its host"),
            ("http://x.example%2f/", "must name its host"),
            ("http://a..b/", "must name its host"),
            ("https://xn--a.example/", "is not a valid URL"),
        ] {
            let message = ok(url).unwrap_err();
            assert!(message.contains(expected), "{message}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_BYTES));
        assert!(ok(&long)
            .unwrap_err()
            .contains("must be at most 2048 bytes long"));
    }
}
