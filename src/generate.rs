//! `atelier generate`: a synthetic Atelier dump with the real one's shape.
//!
//! The six files come out exactly as the real dump is formatted (headers
//! with camelCase `productId`/`styleId`, strings double-quoted, numbers and
//! the bare word `null` unquoted, no newline after the last line), with the
//! real proportions per product and per style, and every defect class of the
//! real dump at about its real rate. The same seed gives the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::import::tables::Table;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of products (1,000,011 is the real dump's).
    pub products: u32,
    pub out: PathBuf,
    pub seed: u64,
}

/// Rows written per file.
#[derive(Debug, Clone, Default)]
pub struct GenerateReport {
    pub rows: Vec<(Table, u64)>,
    pub elapsed: Duration,
}

impl GenerateReport {
    /// Rows written to `table`'s file.
    pub fn rows(&self, table: Table) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// Defect rates, per row of the file named (per million where it says so).
mod rates {
    /// Related rows pointing at product 0 or past the last one: ~60 in 4.5M.
    pub const DANGLING_RELATED_PER_MILLION: u32 = 13;
    /// Photo lines missing the closing quote of their last field.
    pub const UNTERMINATED_PHOTO_PER_MILLION: u32 = 500;
    /// Photo ids skipped: the real dump has 63 gaps in 5.66M.
    pub const PHOTO_ID_GAP_PER_MILLION: u32 = 11;
    /// Percent of styles whose first two photo or sku lines come out of id order.
    pub const OUT_OF_ORDER_PERCENT: u32 = 2;
    /// Percent of styles with a size listed twice.
    pub const DUPLICATE_SIZE_PERCENT: u32 = 2;
    /// Percent of products with no default style, and with two.
    pub const NO_DEFAULT_PERCENT: u32 = 10;
    pub const TWO_DEFAULTS_PERCENT: u32 = 2;
    /// Percent of related rows that repeat the previous one or point home.
    pub const DUPLICATE_RELATED_PERCENT: u32 = 3;
    pub const SELF_RELATED_PERCENT: u32 = 2;
    /// Percent of feature values and sale prices that are `null`/not.
    pub const NULL_FEATURE_VALUE_PERCENT: u32 = 4;
    pub const ON_SALE_PERCENT: u32 = 15;
    /// Products at the dump's largest price, per million.
    pub const TOP_PRICE_PER_MILLION: u32 = 10;
}

/// Percent weights for 0, 1, 2, ... children; their means are the real
/// dump's ratios (2.22 features, 1.96 styles, 4.51 related per product;
/// 2.89 photos and 5.78 skus per style).
const FEATURES: &[u32] = &[0, 25, 40, 23, 12];
const STYLES: &[u32] = &[3, 45, 26, 13, 7, 4, 2];
const PHOTOS: &[u32] = &[3, 15, 20, 30, 20, 8, 4];
const SKUS: &[u32] = &[1, 0, 0, 0, 4, 15, 75, 3, 2];
const RELATED: &[u32] = &[0, 0, 11, 15, 25, 20, 19, 10];

const ADJECTIVES: &[&str] = &[
    "Camo",
    "Bright Future",
    "Morning",
    "Slacker's",
    "Heir Force",
    "Pumped Up",
    "Blues Suede",
    "YEasy",
    "Summer",
    "Midnight",
    "Coastal",
    "Urban",
    "Vintage",
    "Alpine",
    "Electric",
    "Velvet",
    "Rugged",
    "Classic",
    "Featherweight",
    "Golden",
];
const NOUNS: &[&str] = &[
    "Onesie",
    "Sunglasses",
    "Joggers",
    "Slacks",
    "Ones",
    "Kicks",
    "Shoes",
    "350",
    "Hoodie",
    "Jacket",
    "Cap",
    "Tee",
    "Shorts",
    "Boots",
    "Backpack",
    "Beanie",
    "Sweater",
    "Trousers",
];
const CATEGORIES: &[&str] = &[
    "Jackets",
    "Accessories",
    "Pants",
    "Kicks",
    "Dress Shoes",
    "Heels",
    "Shirts",
    "Hats",
    "Sweaters",
    "Shorts",
    "Bags",
    "Socks",
];
const SLOGANS: &[&str] = &[
    "Blend in to your crowd",
    "You've got to wear shades",
    "Make yourself a morning person",
    "Comfortable for everything, or nothing",
    "A sneaker dynasty",
    "Faster than a just about anything",
    "2019 Stanley Cup Limited Edition",
    "Just jumped over jumpman",
    "Built for the \"long haul\"",
    "Warm, dry, and ready",
];
const SENTENCES: &[&str] = &[
    "The So Fatigues will wake you up and fit you in.",
    "This high energy camo will have you blending in to even the wildest surroundings.",
    "Where you're going you might not need roads, but you definitely need some shades.",
    "Whether you're a morning person or not.  Whether you're gym bound or not.",
    "Everyone looks good in joggers.",
    "I'll tell you how great they are after I nap for a bit.",
    "Now where da boxes where I keep mine? You should peep mine, maybe once or twice but never three times.",
    "The Pumped Up serves up crisp court style with a modern look.",
    "Touch down in the land of the Delta Blues in the middle of the pouring rain.",
    "They call it \"the last jacket you'll buy\", and they mean it.",
    "Soft, light, and tough enough for a weekend, a week, or a year.",
];
const FEATURE_NAMES: &[&str] = &[
    "Fabric",
    "Buttons",
    "Lenses",
    "UV Protection",
    "Frames",
    "Cut",
    "Sole",
    "Material",
    "Mid-Sole",
    "Stitching",
    "Non-GMO",
    "Green Leaf Certified",
];
const FEATURE_VALUES: &[&str] = &[
    "Canvas",
    "Brass",
    "Ultrasheen",
    "LightCompose",
    "100% Cotton",
    "Skinny",
    "Loose",
    "Rubber",
    "FullControlSkin",
    "ControlSupport Arch Bridge",
    "Double Stitch",
    "99% Cotton 1% Elastic",
    "Metal",
    "Plastic",
    "\"Washed\" Denim",
];
const COLOURS: &[&str] = &[
    "Forest Green",
    "Black",
    "Desert Brown",
    "Tan",
    "Ocean Blue",
    "Grey",
    "Digital Red",
    "Sky Blue",
    "White",
    "Dark Grey",
    "Gold",
    "Maroon",
    "Chartreuse",
    "Olive Green",
    "Pink",
];
const CLOTHING_SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL", "XXXL", "4XL"];
const SHOE_SIZES: &[&str] = &[
    "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "11.5",
];
const PRICES: &[u32] = &[
    10, 15, 25, 35, 40, 45, 59, 65, 69, 75, 89, 99, 120, 140, 150, 170, 200, 350, 450, 900,
];
const PHOTO_WIDTHS: &[u32] = &[668, 1000, 1650, 2734, 2775, 2800];

/// CSV-quotes `text` (its quotes doubled) once, ahead of time.
fn quoted(words: &[&str]) -> Vec<Vec<u8>> {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")).into_bytes())
        .collect()
}

struct Vocabulary {
    adjectives: Vec<&'static str>,
    nouns: Vec<&'static str>,
    categories: Vec<Vec<u8>>,
    slogans: Vec<Vec<u8>>,
    sentences: Vec<String>,
    feature_names: Vec<Vec<u8>>,
    feature_values: Vec<Vec<u8>>,
}

impl Vocabulary {
    fn new() -> Self {
        Vocabulary {
            adjectives: ADJECTIVES.to_vec(),
            nouns: NOUNS.to_vec(),
            categories: quoted(CATEGORIES),
            slogans: quoted(SLOGANS),
            sentences: SENTENCES.iter().map(|s| s.replace('"', "\"\"")).collect(),
            feature_names: quoted(FEATURE_NAMES),
            feature_values: quoted(FEATURE_VALUES),
        }
    }
}

/// A count drawn from percent weights.
fn draw(rng: &mut Pcg64Mcg, weights: &[u32]) -> usize {
    let mut roll = rng.gen_range(0..100u32);
    for (n, &w) in weights.iter().enumerate() {
        if roll < w {
            return n;
        }
        roll -= w;
    }
    weights.len() - 1
}

fn chance(rng: &mut Pcg64Mcg, percent: u32) -> bool {
    rng.gen_range(0..100u32) < percent
}

fn chance_per_million(rng: &mut Pcg64Mcg, per_million: u32) -> bool {
    rng.gen_range(0..1_000_000u32) < per_million
}

fn pick<'a, T>(rng: &mut Pcg64Mcg, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// One output file: rows are written as "\n" + row, so the file ends without
/// a newline, as the real dump does.
struct Output {
    out: BufWriter<File>,
    line: Vec<u8>,
    rows: u64,
}

impl Output {
    fn create(dir: &Path, table: Table, header: &str) -> io::Result<Self> {
        let file = File::create(dir.join(table.file_name()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(header.as_bytes())?;
        Ok(Output {
            out,
            line: Vec::with_capacity(512),
            rows: 0,
        })
    }

    /// Starts a row: the buffer holds "\n" and the row is appended after it.
    fn row(&mut self) -> &mut Vec<u8> {
        self.line.clear();
        self.line.push(b'\n');
        &mut self.line
    }

    fn emit(&mut self) -> io::Result<()> {
        self.rows += 1;
        self.out.write_all(&self.line)
    }
}

/// Writes the held lines of one style's photos or skus, the first two
/// swapped now and then, as some are in the real dump.
fn write_held(rng: &mut Pcg64Mcg, held: &mut [Vec<u8>], output: &mut Output) -> io::Result<()> {
    if held.len() >= 2 && chance(rng, rates::OUT_OF_ORDER_PERCENT) {
        held.swap(0, 1);
    }
    for line in held.iter() {
        output.row().extend_from_slice(line);
        output.emit()?;
    }
    Ok(())
}

fn push_int(line: &mut Vec<u8>, n: impl itoa::Integer) {
    line.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes a dump of `options.products` products to `options.out`.
pub fn generate(options: &GenerateOptions) -> io::Result<GenerateReport> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.out)?;
    let words = Vocabulary::new();
    let mut dump = Dump::create(options, &words)?;
    for product_id in 1..=options.products {
        dump.product(product_id)?;
    }
    Ok(GenerateReport {
        rows: dump.finish()?,
        elapsed: started.elapsed(),
    })
}

/// A dump being written: the random source, the six files, and the last id
/// of each table. Each product is written whole, its rows in every file,
/// before the next: the same seed draws the same numbers in the same order,
/// so it gives the same bytes.
struct Dump<'w> {
    rng: Pcg64Mcg,
    words: &'w Vocabulary,
    products: u32,
    product: Output,
    features: Output,
    styles: Output,
    photos: Output,
    skus: Output,
    related: Output,
    feature_id: u32,
    style_id: u32,
    photo_id: u32,
    sku_id: u32,
    related_id: u32,
    /// Lines of one style's photos or skus, so two can be swapped.
    held: Vec<Vec<u8>>,
}

impl<'w> Dump<'w> {
    fn create(options: &GenerateOptions, words: &'w Vocabulary) -> io::Result<Self> {
        let dir = options.out.as_path();
        Ok(Dump {
            rng: Pcg64Mcg::seed_from_u64(options.seed),
            words,
            products: options.products,
            product: Output::create(
                dir,
                Table::Product,
                "id,name,slogan,description,category,default_price",
            )?,
            features: Output::create(dir, Table::Features, "id,product_id,feature,value")?,
            styles: Output::create(
                dir,
                Table::Styles,
                "id,productId,name,sale_price,original_price,default_style",
            )?,
            photos: Output::create(dir, Table::Photos, "id,styleId,url,thumbnail_url")?,
            skus: Output::create(dir, Table::Skus, "id,styleId,size,quantity")?,
            related: Output::create(
                dir,
                Table::Related,
                "id,current_product_id,related_product_id",
            )?,
            feature_id: 0,
            style_id: 0,
            photo_id: 0,
            sku_id: 0,
            related_id: 0,
            held: Vec::new(),
        })
    }

    /// One product and everything that belongs to it.
    fn product(&mut self, product_id: u32) -> io::Result<()> {
        let rng = &mut self.rng;
        let words = self.words;
        let category = rng.gen_range(0..words.categories.len());
        let shoes = matches!(CATEGORIES[category], "Kicks" | "Dress Shoes" | "Heels");
        let price = if chance_per_million(rng, rates::TOP_PRICE_PER_MILLION) {
            500_000_000
        } else {
            *pick(rng, PRICES)
        };

        let line = self.product.row();
        push_int(line, product_id);
        line.extend_from_slice(b",\"");
        line.extend_from_slice(pick(rng, &words.adjectives).as_bytes());
        line.push(b' ');
        line.extend_from_slice(pick(rng, &words.nouns).as_bytes());
        line.extend_from_slice(b"\",");
        line.extend_from_slice(pick::<Vec<u8>>(rng, &words.slogans));
        line.extend_from_slice(b",\"");
        for s in 0..rng.gen_range(1..=3) {
            if s > 0 {
                line.push(b' ');
            }
            line.extend_from_slice(pick(rng, &words.sentences).as_bytes());
        }
        line.extend_from_slice(b"\",");
        line.extend_from_slice(&words.categories[category]);
        line.push(b',');
        push_int(line, price);
        self.product.emit()?;

        self.features(product_id)?;
        self.styles(product_id, price, shoes)?;
        self.related(product_id)
    }

    fn features(&mut self, product_id: u32) -> io::Result<()> {
        let rng = &mut self.rng;
        for _ in 0..draw(rng, FEATURES) {
            self.feature_id += 1;
            let line = self.features.row();
            push_int(line, self.feature_id);
            line.push(b',');
            push_int(line, product_id);
            line.push(b',');
            line.extend_from_slice(pick::<Vec<u8>>(rng, &self.words.feature_names));
            line.push(b',');
            if chance(rng, rates::NULL_FEATURE_VALUE_PERCENT) {
                line.extend_from_slice(b"null");
            } else {
                line.extend_from_slice(pick::<Vec<u8>>(rng, &self.words.feature_values));
            }
            self.features.emit()?;
        }
        Ok(())
    }

    fn styles(&mut self, product_id: u32, price: u32, shoes: bool) -> io::Result<()> {
        let style_count = draw(&mut self.rng, STYLES);
        let defaults: (usize, usize) = if chance(&mut self.rng, rates::NO_DEFAULT_PERCENT) {
            (usize::MAX, usize::MAX)
        } else if style_count >= 2 && chance(&mut self.rng, rates::TWO_DEFAULTS_PERCENT) {
            (0, 1)
        } else {
            (0, usize::MAX)
        };
        for s in 0..style_count {
            self.style_id += 1;
            let rng = &mut self.rng;
            let line = self.styles.row();
            push_int(line, self.style_id);
            line.push(b',');
            push_int(line, product_id);
            line.extend_from_slice(b",\"");
            line.extend_from_slice(pick(rng, COLOURS).as_bytes());
            line.extend_from_slice(b" & ");
            line.extend_from_slice(pick(rng, COLOURS).as_bytes());
            line.extend_from_slice(b"\",");
            if chance(rng, rates::ON_SALE_PERCENT) {
                push_int(line, price - price / 4);
            } else {
                line.extend_from_slice(b"null");
            }
            line.push(b',');
            push_int(line, price);
            line.extend_from_slice(if s == defaults.0 || s == defaults.1 {
                b",1"
            } else {
                b",0"
            });
            self.styles.emit()?;
            self.photos()?;
            self.skus(shoes)?;
        }
        Ok(())
    }

    /// The photos of the style just written.
    fn photos(&mut self) -> io::Result<()> {
        let rng = &mut self.rng;
        self.held.clear();
        for _ in 0..draw(rng, PHOTOS) {
            self.photo_id +=
                1 + u32::from(chance_per_million(rng, rates::PHOTO_ID_GAP_PER_MILLION));
            let image: u64 = rng.gen_range(1_400_000_000_000..1_600_000_000_000);
            let width = *pick(rng, PHOTO_WIDTHS);
            let mut line = Vec::with_capacity(300);
            push_int(&mut line, self.photo_id);
            line.push(b',');
            push_int(&mut line, self.style_id);
            for w in [width, 300] {
                line.extend_from_slice(b",\"https://images.unsplash.com/photo-");
                push_int(&mut line, image);
                line.extend_from_slice(
                    b"?ixlib=rb-1.2.1&ixid=eyJhcHBfaWQiOjEyMDd9&auto=format&fit=crop&w=",
                );
                push_int(&mut line, w);
                line.extend_from_slice(b"&q=80\"");
            }
            if chance_per_million(rng, rates::UNTERMINATED_PHOTO_PER_MILLION) {
                line.pop();
            }
            self.held.push(line);
        }
        write_held(&mut self.rng, &mut self.held, &mut self.photos)
    }

    /// The skus of the style just written.
    fn skus(&mut self, shoes: bool) -> io::Result<()> {
        let rng = &mut self.rng;
        self.held.clear();
        let sizes = if shoes { SHOE_SIZES } else { CLOTHING_SIZES };
        let count = draw(rng, SKUS);
        let duplicate = count >= 2 && chance(rng, rates::DUPLICATE_SIZE_PERCENT);
        for k in 0..count {
            self.sku_id += 1;
            let size = if duplicate && k == count - 1 {
                sizes[k - 1]
            } else {
                sizes[k % sizes.len()]
            };
            let mut line = Vec::with_capacity(32);
            push_int(&mut line, self.sku_id);
            line.push(b',');
            push_int(&mut line, self.style_id);
            line.extend_from_slice(b",\"");
            line.extend_from_slice(size.as_bytes());
            line.extend_from_slice(b"\",");
            push_int(&mut line, rng.gen_range(0..60u32));
            self.held.push(line);
        }
        write_held(&mut self.rng, &mut self.held, &mut self.skus)
    }

    fn related(&mut self, product_id: u32) -> io::Result<()> {
        let rng = &mut self.rng;
        let n = self.products;
        let mut previous = 0;
        for _ in 0..draw(rng, RELATED) {
            self.related_id += 1;
            let target = if previous != 0 && chance(rng, rates::DUPLICATE_RELATED_PERCENT) {
                previous
            } else if chance(rng, rates::SELF_RELATED_PERCENT) {
                product_id
            } else if chance_per_million(rng, rates::DANGLING_RELATED_PER_MILLION) {
                if rng.gen_bool(0.5) {
                    0
                } else {
                    n + rng.gen_range(1..=100)
                }
            } else {
                rng.gen_range(1..=n)
            };
            previous = target;
            let line = self.related.row();
            push_int(line, self.related_id);
            line.push(b',');
            push_int(line, product_id);
            line.push(b',');
            push_int(line, target);
            self.related.emit()?;
        }
        Ok(())
    }

    /// Flushes every file; the rows written to each.
    fn finish(self) -> io::Result<Vec<(Table, u64)>> {
        let mut rows = Vec::new();
        for (table, mut output) in [
            (Table::Product, self.product),
            (Table::Features, self.features),
            (Table::Styles, self.styles),
            (Table::Photos, self.photos),
            (Table::Skus, self.skus),
            (Table::Related, self.related),
        ] {
            output.out.flush()?;
            rows.push((table, output.rows));
        }
        Ok(rows)
    }
}
