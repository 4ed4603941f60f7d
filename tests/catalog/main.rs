//! The catalog's data: the schema as the migrations build it, `atelier
//! import` on dumps written for the tests and on generated ones, imports
//! killed or run under a live API, and the dump generator.
//!
//! | module | what |
//! |---|---|
//! | [`migrations`] | each `down.sql` undoes its `up.sql`; concurrent start-ups; the contract's tables |
//! | [`import`] | exact contents and rejects for every defect class; atomicity |
//! | [`import_live`] | an import killed at any phase; the API answering throughout one |
//! | [`generate`] | generated dumps: same seed same bytes, the real dump's proportions and defects |
//!
//! These tests share the process: each has its own database and its own
//! scratch directories ([`common::Scratch`] numbers them per process), and
//! the child processes they start are their own. They are in a binary of
//! their own rather than with `tests/api` because they are bulk work
//! (imports of 20,000 products, killed and repeated): they would slow the
//! tests there that bound wall-clock time.

#[path = "../common/mod.rs"]
mod common;

mod generate;
mod import;
mod import_live;
mod migrations;
