//! The `atelier` binary as a process of its own: [`atelier`] for any of
//! its commands, and [`Serve`] for `atelier serve` on a free port, started
//! and waited for, its output where the test wants it ([`Output`]), and
//! killed when the test drops it; or run to its end, for a start-up that
//! must fail.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::http::{self, Request};

/// The `atelier` binary, run in the temporary directory and without
/// `DATABASE_URL`: no `.env` can supply one the test did not choose.
pub fn atelier() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atelier"));
    command
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_URL");
    command
}

/// Where a served process's standard output and error go.
pub enum Output {
    /// Nowhere.
    Null,
    /// Where the test's own go (not captured by the test harness: for
    /// looking at a test by hand).
    Inherit,
    /// Into the files `stdout` and `stderr` of this directory, made for
    /// them; [`Served::logs`] reads them and removes it.
    Files(PathBuf),
    /// Standard output line by line through [`Served::lines`]; standard
    /// error nowhere.
    Lines,
}

/// `atelier serve` on 127.0.0.1 at a free port, to be started.
pub struct Serve {
    command: Command,
    port: u16,
    output: Output,
}

impl Serve {
    /// On `database_url`, its output going nowhere.
    pub fn new(database_url: &str) -> Serve {
        let port = super::free_port();
        let mut command = atelier();
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_ADDRESS", "127.0.0.1");
        Serve {
            command,
            port,
            output: Output::Null,
        }
    }

    /// With the environment variable `key` set to `value`.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Serve {
        self.command.env(key, value);
        self
    }

    /// With these environment variables set, in their order (a later one
    /// wins).
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Serve {
        self.command.envs(vars.iter().copied());
        self
    }

    pub fn output(mut self, output: Output) -> Serve {
        self.output = output;
        self
    }

    /// Runs it to its end, its standard output and error captured: for a
    /// start-up that must fail.
    pub fn run(mut self) -> std::process::Output {
        self.command.output().unwrap()
    }

    /// Starts it and returns once it answers `GET path` (at most 60 s),
    /// with that first answer as it came off the wire.
    pub fn start(mut self, path: &str) -> (Served, String) {
        let mut logs = None;
        let (stdout, stderr) = match &self.output {
            Output::Null => (Stdio::null(), Stdio::null()),
            Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
            Output::Lines => (Stdio::piped(), Stdio::null()),
            Output::Files(dir) => {
                std::fs::create_dir_all(dir).unwrap();
                let file = |name| Stdio::from(std::fs::File::create(dir.join(name)).unwrap());
                logs = Some(dir.clone());
                (file("stdout"), file("stderr"))
            }
        };
        let mut child = self.command.stdout(stdout).stderr(stderr).spawn().unwrap();
        let lines = matches!(self.output, Output::Lines).then(|| {
            let stdout = child.stdout.take().unwrap();
            let (send, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
            lines
        });
        let served = Served {
            child,
            port: self.port,
            lines,
            logs,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(answer) = http::fetch(self.port, &Request::get(path)) {
                if !answer.is_empty() {
                    return (served, String::from_utf8_lossy(&answer).into_owned());
                }
            }
            assert!(Instant::now() < deadline, "atelier serve never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running `atelier serve`, killed when dropped.
pub struct Served {
    child: Child,
    pub port: u16,
    lines: Option<mpsc::Receiver<String>>,
    logs: Option<PathBuf>,
}

impl Served {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// The lines of its standard output, as it writes them
    /// ([`Output::Lines`]).
    pub fn lines(&self) -> &mpsc::Receiver<String> {
        self.lines.as_ref().expect("started with Output::Lines")
    }

    /// Stops it, and returns what it wrote to standard output, then to
    /// standard error ([`Output::Files`]), the directory removed.
    pub fn logs(mut self) -> String {
        self.stop();
        let dir = self.logs.take().expect("started with Output::Files");
        let mut logged = String::new();
        for file in ["stdout", "stderr"] {
            logged.push_str(&std::fs::read_to_string(dir.join(file)).unwrap());
        }
        let _ = std::fs::remove_dir_all(&dir);
        logged
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}
