//! Every advisory-lock key the service takes, in one place, so no two parts
//! pick the same number by accident. Each is ASCII spelled into an integer.

/// Held by the process that applies migrations ("ATELIER"), so instances
/// started together migrate one at a time.
pub const MIGRATION_LOCK: i64 = 0x0041_5445_4c49_4552;

/// Held by an import, exclusively, from its start to its swap ("ATELIMP"):
/// it keeps two imports from running at once, and admin writes take it
/// shared for their transaction (see `admin::writes`), so no write commits
/// while an import runs: the swap would drop it with the tables it wrote.
pub const IMPORT_LOCK: i64 = 0x0041_5445_4c49_4d50;

/// The space of the two-key advisory locks on products ("ATPR"): an admin
/// write holds its product's for its transaction.
pub const PRODUCT_LOCKS: i32 = 0x4154_5052;

/// Held while photo ids are handed out ("ATEPHOT").
pub const PHOTO_IDS_LOCK: i64 = 0x0041_5445_5048_4f54;
