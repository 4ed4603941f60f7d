//! Rebuilds the binary whenever a migration changes, so the migrations embedded
//! with `embed_migrations!` can never go stale; and converts the contract,
//! `docs/openapi.yaml`, to the JSON that `GET /openapi.json` serves, so the
//! YAML stays the one source of the document. Also names the commit built,
//! for the metrics' `atelier_build_info`.
use std::error::Error;
use std::path::Path;

const OPENAPI_YAML: &str = "docs/openapi.yaml";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed={OPENAPI_YAML}");

    let yaml = std::fs::read_to_string(OPENAPI_YAML)
        .map_err(|e| format!("reading {OPENAPI_YAML}: {e}"))?;
    let document: serde_json::Value =
        serde_norway::from_str(&yaml).map_err(|e| format!("parsing {OPENAPI_YAML}: {e}"))?;
    println!("cargo:rustc-env=ATELIER_COMMIT={}", commit());
    let out_dir = std::env::var("OUT_DIR")?;
    std::fs::write(
        Path::new(&out_dir).join("openapi.json"),
        serde_json::to_vec(&document)?,
    )?;
    Ok(())
}

/// The commit checked out (`ATELIER_COMMIT` if set, for builds without a git
/// checkout such as the Docker image's), and a rebuild when it moves.
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=ATELIER_COMMIT");
    if let Ok(commit) = std::env::var("ATELIER_COMMIT") {
        return commit;
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // HEAD, and the branch it names, change when a commit is made.
    for path in ["HEAD", "refs/heads"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(file) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
}
