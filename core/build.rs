//! Rebuild when a migration is added, changed or removed: `sqlx::migrate!` embeds `migrations/`
//! at compile time, and cargo does not watch that directory on its own (sqlx's documented
//! build script).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
