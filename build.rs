//! Rebuilds the binary whenever a migration changes, so the migrations embedded
//! with `embed_migrations!` can never go stale; and converts the contract,
//! `docs/openapi.yaml`, to the JSON that `GET /openapi.json` serves, so the
//! YAML stays the one source of the document.
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
    let out_dir = std::env::var("OUT_DIR")?;
    std::fs::write(
        Path::new(&out_dir).join("openapi.json"),
        serde_json::to_vec(&document)?,
    )?;
    Ok(())
}
