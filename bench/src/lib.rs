//! Shared pieces of the benchmark programs (`router-bench`, `router-bench-flows`,
//! `router-proof`).

pub mod procs;
