//! The suite's shared streaming replica of `DATABASE_URL`'s server:
//! `scripts/test.sh` starts it (`scripts/lib/replica.sh`) and exports
//! `DATABASE_REPLICA_SERVER_URL`. Every test database is created on the
//! primary and appears on the replica by replication.
//!
//! Pausing its replay stops it for every database on it, so a test that
//! reads it takes [`REPLAY`] for its whole length, as does a test that
//! pauses it. The lock serializes the tests of one binary only: the tests
//! that pause replay live in `tests/replicas`, a binary of their own (cargo
//! runs test binaries one after another), and so any other suite may read
//! the replica, under [`REPLAY`] too.

use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::{with_database, TestDb};

/// A turn on the shared replica: held by every test that reads it or
/// pauses its replay, for the whole test.
pub static REPLAY: rocket::tokio::sync::Mutex<()> = rocket::tokio::sync::Mutex::const_new(());

/// The replica's server, as `scripts/test.sh` exports it.
pub fn server_url() -> String {
    atelier::config::load_dotenv();
    std::env::var("DATABASE_REPLICA_SERVER_URL").expect(
        "DATABASE_REPLICA_SERVER_URL must point at a streaming replica of DATABASE_URL's \
         server: run scripts/test.sh, which starts one",
    )
}

/// `db` as the replica serves it, once the replica has caught up with it
/// (has as many products).
pub fn replica_of(db: &TestDb) -> String {
    let url = with_database(&server_url(), &db.name);
    let expected: i64 = atelier::catalog::schema::product::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    eventually("the replica to catch up", || {
        let mut conn = PgConnection::establish(&url).ok()?;
        let have: i64 = atelier::catalog::schema::product::table
            .count()
            .get_result(&mut conn)
            .ok()?;
        (have == expected).then_some(())
    });
    url
}

/// Polls `probe` until it gives a value (at most 30 s).
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
