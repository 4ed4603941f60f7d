//! Rebuilds the binary whenever a migration changes, so the migrations embedded
//! with `embed_migrations!` can never go stale.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
