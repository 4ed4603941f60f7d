//! The service in this process: the real Rocket application on a
//! PostgreSQL database of each test's own, through Rocket's local client
//! or on a real socket ([`common::http::serve`]).
//!
//! | module | what it holds the service to |
//! |---|---|
//! | [`api`] | the public endpoints' answers, byte for byte |
//! | [`answers`] | the stored `/styles` answers and what drops them |
//! | [`cache`] | the answer cache: hits, ETags, stampedes, TTLs, deep pages |
//! | [`http`] | HEAD, OPTIONS, CORS, readiness, compression, size limits, slow clients |
//! | [`openapi`] | every answer against `docs/openapi.yaml` |
//! | [`statements`] | statements per request |
//! | [`resilience`] | a database unreachable, busy or cut |
//! | [`outage`] | a database outage: 503 at once, stale answers, recovery |
//! | [`admin`] | the admin API |
//! | [`search`] | `?q=` and filters on `/products`, `/categories`: exact answers, refusals, the index |
//!
//! These tests share the process: each has its own database
//! ([`common::TestDb`]), its own application (its own cache, pools,
//! metrics and statement counter), its own ports and scratch directories.
//! What is the process's is the same for all of them: the environment
//! (`.env` loaded, nothing set by a test) and Rocket's logger, which the
//! first application installs, at `critical` for every one
//! ([`common::test_figment`]). None reads the shared replica. A test that
//! needs to change any of that belongs in a suite of its own (see
//! `tests/replicas`, `tests/ops`).
//!
//! Several tests here bound wall-clock time (an outage's 503s at once, a
//! write seen on another instance within a second, stale answers, slow
//! clients): bulk loads (imports of thousands of products, generated dumps)
//! stay out of this suite, in `tests/catalog`, which cargo runs before or
//! after this one, never alongside.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod answers;
mod api;
mod cache;
mod http;
mod openapi;
mod outage;
mod resilience;
mod search;
mod statements;
