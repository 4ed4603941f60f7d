//! Giving the staging tables their keys, indexes, constraints and triggers
//! (the statements `twin_ddl` reads from the served tables) with every core
//! at work: each index build is one core's, so the keys and the indexes run
//! on several connections at once, in waves that keep what depends on what.

use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::sessions::Sessions;
use super::ImportError;

/// What a statement does, in the order the waves run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wave {
    /// Primary and unique keys: foreign keys need them. Each locks only its
    /// own table, so keys of different tables build at once.
    Keys,
    /// Other indexes: builds of one table share their lock, so all at once.
    Indexes,
    /// Foreign keys, one after another: each locks two tables, and two
    /// referring to one table would only wait for each other.
    ForeignKeys,
    /// Triggers, once the data is in.
    Triggers,
}

impl Wave {
    fn of(statement: &str) -> Wave {
        if statement.starts_with("CREATE INDEX") || statement.starts_with("CREATE UNIQUE INDEX") {
            Wave::Indexes
        } else if statement.contains(" FOREIGN KEY ") {
            Wave::ForeignKeys
        } else if statement.starts_with("ALTER TABLE") {
            Wave::Keys
        } else {
            Wave::Triggers
        }
    }

    fn in_parallel(self) -> bool {
        matches!(self, Wave::Keys | Wave::Indexes)
    }
}

/// Runs `statements` in waves (keys, indexes, foreign keys, triggers), the
/// first two on up to `parts` sessions at once (each
/// with `maintenance_work_mem` as `conn` has it), the others on `conn`.
/// The staging tables are committed, so every connection sees them.
pub fn build(
    conn: &mut PgConnection,
    sessions: Sessions<'_>,
    statements: &[&String],
    parts: usize,
) -> Result<(), ImportError> {
    let mut ordered: Vec<(Wave, &String)> = statements.iter().map(|s| (Wave::of(s), *s)).collect();
    // Stable: within a wave, the order `twin_ddl` gave.
    ordered.sort_by_key(|(wave, _)| *wave);
    for wave in [Wave::Keys, Wave::Indexes, Wave::ForeignKeys, Wave::Triggers] {
        let these: Vec<&String> = ordered
            .iter()
            .filter(|(w, _)| *w == wave)
            .map(|(_, s)| *s)
            .collect();
        if wave.in_parallel() && these.len() > 1 && parts > 1 {
            run_at_once(sessions, &these, parts)?;
        } else {
            for statement in these {
                diesel::sql_query(statement.as_str()).execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Runs `statements` on `parts` connections, each taking the next one left
/// (the first, the largest tables' builds, do not all fall to one).
fn run_at_once(
    sessions: Sessions<'_>,
    statements: &[&String],
    parts: usize,
) -> Result<(), ImportError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parts.min(statements.len()))
            .map(|_| {
                scope.spawn(|| -> Result<(), ImportError> {
                    let mut conn = sessions.open()?;
                    diesel::sql_query("SET maintenance_work_mem = '256MB'").execute(&mut conn)?;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(statement) = statements.get(i) else {
                            return Ok(());
                        };
                        diesel::sql_query(statement.as_str()).execute(&mut conn)?;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| ImportError::Other("an index builder panicked".into()))??;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::Wave;

    #[test]
    fn statements_fall_into_the_waves_that_keep_their_dependencies() {
        let cases = [
            ("ALTER TABLE s.product ADD CONSTRAINT product_pkey PRIMARY KEY (id)", Wave::Keys),
            ("ALTER TABLE s.x ADD CONSTRAINT x_key UNIQUE (a)", Wave::Keys),
            ("CREATE INDEX styles_product_id ON s.styles USING btree (product_id)", Wave::Indexes),
            ("CREATE UNIQUE INDEX u ON s.styles USING btree (a)", Wave::Indexes),
            (
                "ALTER TABLE s.styles ADD CONSTRAINT f FOREIGN KEY (product_id) REFERENCES s.product(id)",
                Wave::ForeignKeys,
            ),
            ("CREATE TRIGGER t AFTER INSERT ON s.product FOR EACH ROW EXECUTE FUNCTION f()", Wave::Triggers),
        ];
        for (statement, wave) in cases {
            assert_eq!(Wave::of(statement), wave, "{statement}");
        }
    }
}
