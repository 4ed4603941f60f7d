//! The database sessions an import opens: how many of them work at once,
//! and, for a gentle import, how they yield to a service sharing the box.
//!
//! A plain import takes all it can: a session per core for index builds,
//! answers and the search index, PostgreSQL's parallel workers on top. On a
//! primary that also serves, that queues every request behind the import's
//! work. A gentle import (`atelier import --gentle`) keeps to one session at
//! a time without parallel workers, so it uses at most one core of the
//! database's host, and gives up the CPU and disk whenever anything else
//! wants them: the importer itself and, when the database runs on this
//! machine and the system lets us, its server processes run at the lowest
//! CPU priority (nice 19) and the lowest best-effort I/O priority. The one
//! statement that blocks readers, the swap, runs on a session of normal
//! priority, so no reader waits behind a starved lock holder.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use super::ImportError;

/// The most sessions a plain import uses at once.
const MOST_PARTS: usize = 4;
/// The lowest CPU priority.
const NICEST: libc::c_int = 19;
/// `ioprio_set`'s value for the best-effort class (2) at its lowest level (7).
const IOPRIO_BEST_EFFORT_LOWEST: libc::c_int = (2 << 13) | 7;
/// `ioprio_set`'s target kind: one process (thread) id.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// How an import opens its database sessions.
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    url: &'a str,
    gentle: bool,
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Bool)]
    local: bool,
}

impl<'a> Sessions<'a> {
    /// Sessions to the database at `url`; gentle ones if `gentle`.
    pub fn new(url: &'a str, gentle: bool) -> Self {
        Sessions { url, gentle }
    }

    /// Whether the sessions yield to everything else.
    pub fn gentle(&self) -> bool {
        self.gentle
    }

    /// How many sessions a phase may use at once: one per core, up to
    /// [`MOST_PARTS`]; one for a gentle import.
    pub fn parts(&self) -> usize {
        if self.gentle {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MOST_PARTS))
        }
    }

    /// A session for the import's work: for a gentle import, without
    /// parallel workers and, where it can be, at the lowest priority.
    pub fn open(&self) -> Result<PgConnection, ImportError> {
        let mut conn = PgConnection::establish(self.url)?;
        if self.gentle {
            diesel::sql_query("SET max_parallel_maintenance_workers = 0").execute(&mut conn)?;
            diesel::sql_query("SET max_parallel_workers_per_gather = 0").execute(&mut conn)?;
            lower_backend_priority(&mut conn)?;
        }
        Ok(conn)
    }

    /// A session for work nobody waits for (dropping the replaced tables):
    /// at the lowest priority, where it can be, whatever the import's mode.
    pub fn open_idle(&self) -> Result<PgConnection, ImportError> {
        let mut conn = PgConnection::establish(self.url)?;
        lower_backend_priority(&mut conn)?;
        Ok(conn)
    }

    /// A session of normal priority, for statements that hold locks the
    /// service's reads wait for.
    pub fn open_urgent(&self) -> Result<PgConnection, ImportError> {
        Ok(PgConnection::establish(self.url)?)
    }

    /// For a gentle import, lowers this process's CPU and I/O priority;
    /// threads started afterwards inherit it. Called before any is started.
    pub fn lower_own_priority(&self) {
        if self.gentle {
            if let Err(e) = lower_priority(0) {
                tracing::warn!("could not lower the importer's priority: {e}");
            }
        }
    }
}

/// Lowers the priority of the server process behind `conn` when it runs on
/// this machine (a Unix socket or a loopback address), so that the service's
/// sessions come first for the CPU and the disk. Where the system does not
/// allow it (another user's processes, without `CAP_SYS_NICE`), the session
/// keeps its priority and the import says so once.
fn lower_backend_priority(conn: &mut PgConnection) -> Result<(), ImportError> {
    let backend: Backend = diesel::sql_query(
        "SELECT pg_backend_pid() AS pid,
                COALESCE(host(inet_server_addr()) ~ '^(127\\.|::1$)', true) AS local",
    )
    .get_result(conn)?;
    if !backend.local {
        return Ok(());
    }
    if let Err(e) = lower_priority(backend.pid) {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                "could not lower the priority of the import's database sessions ({e}); \
                 they keep to one at a time"
            );
        });
    }
    Ok(())
}

/// Sets process (or thread) `pid`, 0 for the calling thread, to the lowest
/// CPU priority and the lowest best-effort I/O priority.
fn lower_priority(pid: i32) -> std::io::Result<()> {
    let id = libc::id_t::try_from(pid).map_err(|_| std::io::Error::other("negative pid"))?;
    // SAFETY: setpriority and ioprio_set take plain integers and touch no
    // memory of ours; an error is reported through errno.
    let niced = unsafe { libc::setpriority(libc::PRIO_PROCESS, id, NICEST) };
    if niced != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    let io = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            pid,
            IOPRIO_BEST_EFFORT_LOWEST,
        )
    };
    if io != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
