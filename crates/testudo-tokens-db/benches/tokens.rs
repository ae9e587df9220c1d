//! Benchmarks of the database token backend on SQLite.
fn main() {}
