//! The service as operators run it: the `atelier` binary's commands and
//! `atelier serve` as a process of its own, its logs and metrics, a fuzzer
//! against it, the deployment kit in `deploy/`, and what operators watch
//! the service with.
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | `migrate`, `serve`, `import`, `answers refresh`, `prewarm`, `token new`; SIGTERM; no credential in a log |
//! | [`telemetry`] | one JSON log line per request; `/metrics` on an address of its own |
//! | [`fuzz`] | schemathesis against `docs/openapi.yaml` on the real binary |
//! | [`deploy`] | the systemd unit, nginx (run, in front of stand-in instances), the AMI template |
//! | [`observability`] | the Grafana dashboard, the alert rules, the metrics they name |
//!
//! What is process-global in the service (the tracing subscriber, set once
//! per process, the log filter and format read from the environment at
//! start, the signal handling) is tested on `atelier serve` started as a
//! child process ([`common::process`]), never in this process: that is what
//! lets these tests share one. None sets an environment variable of this
//! process.
//!
//! [`observability`] reads the shared streaming replica: it takes
//! [`common::replica::REPLAY`], and the tests that pause the replica's
//! replay are in `tests/replicas`, a binary of their own.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod deploy;
mod fuzz;
mod observability;
mod telemetry;
