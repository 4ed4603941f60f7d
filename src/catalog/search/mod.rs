//! Search: finding products by the words of their text, with filters, and
//! counting them by category. The index is PostgreSQL's own (weighted
//! tsvectors with GIN indexes, `unaccent`, `pg_trgm`), kept in the schema
//! `search` beside the catalog (see its migration): `input` parses what a
//! client asks for, `read` answers it, `build` makes the index for the
//! import and `atelier search refresh`. Triggers on `product` and `features`
//! keep it current between those.

pub mod build;
pub mod input;
pub mod read;

pub use input::{Filters, InputError, SearchInput, Term, Terms};
pub use read::{count_categories, find_products, CategoryCounts, Found, MAX_RESULTS};
