//! Benchmarks for zeus live in `benches/`; see `benches/README.md`.
