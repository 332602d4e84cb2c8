//! Rebuilds the binary when a migration is added or changed: the migrations are embedded in
//! it (`embed_migrations!`), and Cargo does not otherwise look at the folder.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
