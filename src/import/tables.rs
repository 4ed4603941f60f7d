//! The six files of the dump and how each of their rows becomes a row of its
//! table: header names, value rules, and the binary `COPY` encoding.

use std::fmt;

use roaring::RoaringBitmap;

use super::csv::Fields;

/// One file of the dump and the table it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Product,
    Features,
    Styles,
    Photos,
    Skus,
    Related,
}

/// What a column holds, and so how its text is checked and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The row's own id: a positive integer, unique in its file.
    Id,
    /// The id of a product that must have been loaded.
    ProductRef,
    /// The id of a style that must have been loaded.
    StyleRef,
    /// Free text.
    Text,
    /// A whole, non-negative price.
    Price,
    /// A non-negative count.
    Quantity,
    /// `1`/`0` (or `true`/`false`).
    Flag,
}

/// One column: its name in the table (the header may spell it in camelCase).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
    }
}

const fn nullable(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
    }
}

use Kind::*;

const PRODUCT_COLUMNS: &[Column] = &[
    col("id", Id),
    col("name", Text),
    col("slogan", Text),
    col("description", Text),
    col("category", Text),
    col("default_price", Price),
];
const FEATURES_COLUMNS: &[Column] = &[
    col("id", Id),
    col("product_id", ProductRef),
    col("feature", Text),
    nullable("value", Text),
];
const STYLES_COLUMNS: &[Column] = &[
    col("id", Id),
    col("product_id", ProductRef),
    col("name", Text),
    nullable("sale_price", Price),
    col("original_price", Price),
    col("default_style", Flag),
];
const PHOTOS_COLUMNS: &[Column] = &[
    col("id", Id),
    col("style_id", StyleRef),
    col("url", Text),
    col("thumbnail_url", Text),
];
const SKUS_COLUMNS: &[Column] = &[
    col("id", Id),
    col("style_id", StyleRef),
    col("size", Text),
    col("quantity", Quantity),
];
const RELATED_COLUMNS: &[Column] = &[
    col("id", Id),
    col("current_product_id", ProductRef),
    col("related_product_id", ProductRef),
];

impl Table {
    /// The order files are loaded in: every file after the ones it refers to.
    pub const LOAD_ORDER: [Table; 6] = [
        Table::Product,
        Table::Styles,
        Table::Features,
        Table::Related,
        Table::Photos,
        Table::Skus,
    ];

    /// The file's name in the dump directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Table::Product => "product.csv",
            Table::Features => "features.csv",
            Table::Styles => "styles.csv",
            Table::Photos => "photos.csv",
            Table::Skus => "skus.csv",
            Table::Related => "related.csv",
        }
    }

    /// The table's name in the database.
    pub fn table_name(self) -> &'static str {
        match self {
            Table::Product => "product",
            Table::Features => "features",
            Table::Styles => "styles",
            Table::Photos => "photos",
            Table::Skus => "skus",
            Table::Related => "related",
        }
    }

    /// The columns loaded from the file, in table order (`product`'s
    /// timestamps are not in the dump: they default to the time of the import).
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Product => PRODUCT_COLUMNS,
            Table::Features => FEATURES_COLUMNS,
            Table::Styles => STYLES_COLUMNS,
            Table::Photos => PHOTOS_COLUMNS,
            Table::Skus => SKUS_COLUMNS,
            Table::Related => RELATED_COLUMNS,
        }
    }

    /// Whether unbalanced quotes are repaired at line end (see `csv`).
    pub fn repairs_unterminated_quotes(self) -> bool {
        self == Table::Photos
    }
}

/// `productId`, `product_id` and `PRODUCTID` all name the same column.
fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where each of a table's columns is in the file, from its header line.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// For each column of [`Table::columns`], its field index in the file.
    pub positions: Vec<usize>,
    /// Fields per record.
    pub width: usize,
}

impl HeaderMap {
    /// Maps `header` (the file's split first line) onto `table`'s columns, by
    /// name; the file must have each column exactly once and nothing else.
    pub fn new(table: Table, header: &Fields) -> Result<HeaderMap, String> {
        let names: Vec<String> = (0..header.len())
            .map(|i| normalize(&String::from_utf8_lossy(header.get(i).0)))
            .collect();
        let expected: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
        let wrong = || {
            let found: Vec<String> = (0..header.len())
                .map(|i| String::from_utf8_lossy(header.get(i).0).into_owned())
                .collect();
            format!(
                "header has columns [{}], expected [{}] in any order (camelCase accepted)",
                found.join(","),
                expected.join(",")
            )
        };
        if names.len() != expected.len() {
            return Err(wrong());
        }
        let mut positions = Vec::with_capacity(expected.len());
        for column in &expected {
            let wanted = normalize(column);
            let mut found = names.iter().enumerate().filter(|(_, n)| **n == wanted);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => positions.push(i),
                _ => return Err(wrong()),
            }
        }
        Ok(HeaderMap {
            positions,
            width: names.len(),
        })
    }
}

/// Why a row was not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectKind {
    /// The quoting could not be read.
    Malformed,
    /// Not as many fields as the header.
    ColumnCount,
    /// A field that does not parse as its column's type.
    InvalidValue,
    /// An id already loaded from this file.
    DuplicateId,
    /// A reference to a product or style that was not loaded.
    MissingReference,
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectKind::Malformed => "malformed quoting",
            RejectKind::ColumnCount => "wrong column count",
            RejectKind::InvalidValue => "invalid value",
            RejectKind::DuplicateId => "duplicate id",
            RejectKind::MissingReference => "missing reference",
        })
    }
}

/// A rejected row: its kind and a sentence naming the culprit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub reason: String,
}

impl Reject {
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Self {
        Reject {
            kind,
            reason: reason.into(),
        }
    }
}

/// The ids loaded so far, which later files' references are checked against.
#[derive(Debug, Default)]
pub struct LoadedIds {
    pub products: RoaringBitmap,
    pub styles: RoaringBitmap,
}

/// The header every binary `COPY` stream starts with.
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer every binary `COPY` stream ends with.
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

fn parse_unsigned(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}

/// A non-negative integer that fits an `int4`; a price may carry a zero
/// fraction ("140.00").
fn parse_i32(bytes: &[u8], allow_zero_fraction: bool) -> Option<i32> {
    let whole = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) if allow_zero_fraction => {
            let fraction = &bytes[dot + 1..];
            if fraction.is_empty() || !fraction.iter().all(|&b| b == b'0') {
                return None;
            }
            &bytes[..dot]
        }
        _ => bytes,
    };
    parse_unsigned(whole).and_then(|n| i32::try_from(n).ok())
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > 40 {
        format!("{:?}...", text.chars().take(40).collect::<String>())
    } else {
        format!("{text:?}")
    }
}

/// Checks one record against `table`'s rules and appends its binary `COPY`
/// tuple to `out`; returns the row's id. On a reject, `out` is left as it was.
pub fn encode_row(
    table: Table,
    header: &HeaderMap,
    fields: &Fields,
    seen: &RoaringBitmap,
    loaded: &LoadedIds,
    out: &mut Vec<u8>,
) -> Result<u32, Reject> {
    if fields.len() != header.width {
        return Err(Reject::new(
            RejectKind::ColumnCount,
            format!("expected {} fields, found {}", header.width, fields.len()),
        ));
    }
    let mark = out.len();
    let result = encode_fields(table, header, fields, seen, loaded, out);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

fn encode_fields(
    table: Table,
    header: &HeaderMap,
    fields: &Fields,
    seen: &RoaringBitmap,
    loaded: &LoadedIds,
    out: &mut Vec<u8>,
) -> Result<u32, Reject> {
    let columns = table.columns();
    out.extend_from_slice(&(columns.len() as i16).to_be_bytes());
    let mut id = 0u32;
    // Reference checks wait until every value parses, so a row is reported
    // for its first problem in the order: value, duplicate, reference.
    let mut references: [(Kind, &str, u32); 2] = [(Kind::Id, "", 0); 2];
    let mut reference_count = 0;
    for (column, &position) in columns.iter().zip(&header.positions) {
        let (bytes, quoted) = fields.get(position);
        if column.nullable && !quoted && bytes == b"null" {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let invalid = |what: &str| {
            Reject::new(
                RejectKind::InvalidValue,
                format!("{} {} is not {what}", column.name, shown(bytes)),
            )
        };
        match column.kind {
            Kind::Id | Kind::ProductRef | Kind::StyleRef => {
                let value = parse_i32(bytes, false)
                    .filter(|v| column.kind != Kind::Id || *v > 0)
                    .ok_or_else(|| invalid("a positive 32-bit integer"))?;
                if column.kind == Kind::Id {
                    id = value.unsigned_abs();
                } else {
                    references[reference_count] = (column.kind, column.name, value.unsigned_abs());
                    reference_count += 1;
                }
                out.extend_from_slice(&4i32.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Kind::Price | Kind::Quantity => {
                let value = parse_i32(bytes, column.kind == Kind::Price)
                    .ok_or_else(|| invalid("a whole number from 0 to 2147483647"))?;
                out.extend_from_slice(&4i32.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Kind::Flag => {
                let value = match bytes {
                    b"1" | b"true" | b"TRUE" | b"t" => 1u8,
                    b"0" | b"false" | b"FALSE" | b"f" => 0u8,
                    _ => return Err(invalid("1 or 0")),
                };
                out.extend_from_slice(&1i32.to_be_bytes());
                out.push(value);
            }
            Kind::Text => {
                if !quoted && bytes == b"null" {
                    return Err(Reject::new(
                        RejectKind::InvalidValue,
                        format!("{} is null but required", column.name),
                    ));
                }
                if std::str::from_utf8(bytes).is_err() {
                    return Err(invalid("valid UTF-8"));
                }
                if bytes.contains(&0) {
                    return Err(invalid("text without NUL bytes"));
                }
                let len = i32::try_from(bytes.len()).map_err(|_| invalid("under 2 GiB"))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    if seen.contains(id) {
        return Err(Reject::new(
            RejectKind::DuplicateId,
            format!("id {id} appears earlier in {}", table.file_name()),
        ));
    }
    for &(kind, name, value) in &references[..reference_count] {
        let (set, file) = match kind {
            Kind::StyleRef => (&loaded.styles, Table::Styles.file_name()),
            _ => (&loaded.products, Table::Product.file_name()),
        };
        if !set.contains(value) {
            return Err(Reject::new(
                RejectKind::MissingReference,
                format!("{name} {value} is not a loaded row of {file}"),
            ));
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(record: &str) -> Fields {
        let mut f = Fields::default();
        f.split(record.as_bytes()).unwrap();
        f
    }

    #[test]
    fn headers_map_by_name_in_any_order_and_case() {
        let map = HeaderMap::new(Table::Photos, &fields("id,styleId,url,thumbnail_url")).unwrap();
        assert_eq!(map.positions, vec![0, 1, 2, 3]);
        let map = HeaderMap::new(Table::Photos, &fields("thumbnail_url,id,url,style_id")).unwrap();
        assert_eq!(map.positions, vec![1, 3, 2, 0]);
        let error = HeaderMap::new(Table::Skus, &fields("id,styleId,size")).unwrap_err();
        assert_eq!(
            error,
            "header has columns [id,styleId,size], expected [id,style_id,size,quantity] in any order (camelCase accepted)"
        );
        assert!(HeaderMap::new(Table::Skus, &fields("id,id,size,quantity")).is_err());
    }

    #[test]
    fn prices_are_whole_numbers() {
        assert_eq!(parse_i32(b"140", true), Some(140));
        assert_eq!(parse_i32(b"140.00", true), Some(140));
        assert_eq!(parse_i32(b"500000000", true), Some(500_000_000));
        assert_eq!(parse_i32(b"140.50", true), None);
        assert_eq!(parse_i32(b"140.00", false), None);
        assert_eq!(parse_i32(b"-1", true), None);
        assert_eq!(parse_i32(b"2147483648", true), None);
        assert_eq!(parse_i32(b"", true), None);
        assert_eq!(parse_i32(b"99999999999999999999999", true), None);
    }

    #[test]
    fn a_style_row_encodes_as_a_binary_tuple() {
        let header = HeaderMap::new(
            Table::Styles,
            &fields("id,productId,name,sale_price,original_price,default_style"),
        )
        .unwrap();
        let mut loaded = LoadedIds::default();
        loaded.products.insert(1);
        let mut out = Vec::new();
        let id = encode_row(
            Table::Styles,
            &header,
            &fields("3,1,\"Ocean\",null,140,1"),
            &RoaringBitmap::new(),
            &loaded,
            &mut out,
        )
        .unwrap();
        assert_eq!(id, 3);
        let mut expected = vec![0, 6];
        expected.extend([0, 0, 0, 4, 0, 0, 0, 3]);
        expected.extend([0, 0, 0, 4, 0, 0, 0, 1]);
        expected.extend([0, 0, 0, 5]);
        expected.extend(b"Ocean");
        expected.extend([0xff, 0xff, 0xff, 0xff]);
        expected.extend([0, 0, 0, 4, 0, 0, 0, 140]);
        expected.extend([0, 0, 0, 1, 1]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rejects_say_what_is_wrong() {
        let header = HeaderMap::new(
            Table::Related,
            &fields("id,current_product_id,related_product_id"),
        )
        .unwrap();
        let mut loaded = LoadedIds::default();
        loaded.products.insert(1);
        let mut seen = RoaringBitmap::new();
        seen.insert(9);
        let reject = |record: &str| {
            let mut out = vec![7];
            let r = encode_row(
                Table::Related,
                &header,
                &fields(record),
                &seen,
                &loaded,
                &mut out,
            )
            .unwrap_err();
            assert_eq!(out, vec![7], "a reject leaves the buffer as it was");
            (r.kind, r.reason)
        };
        assert_eq!(
            reject("1,1,0"),
            (
                RejectKind::MissingReference,
                "related_product_id 0 is not a loaded row of product.csv".into()
            )
        );
        assert_eq!(
            reject("9,1,1"),
            (
                RejectKind::DuplicateId,
                "id 9 appears earlier in related.csv".into()
            )
        );
        assert_eq!(
            reject("0,1,1"),
            (
                RejectKind::InvalidValue,
                "id \"0\" is not a positive 32-bit integer".into()
            )
        );
        assert_eq!(
            reject("2,1"),
            (RejectKind::ColumnCount, "expected 3 fields, found 2".into())
        );
        assert_eq!(
            reject("2,abc,1"),
            (
                RejectKind::InvalidValue,
                "current_product_id \"abc\" is not a positive 32-bit integer".into()
            )
        );
    }
}
