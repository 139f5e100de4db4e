//! zeus-ipc: message channels between a scheduler and its workers.
//!
//! Not built yet: the `Channel` trait and its FIFO, System V, mmap and Unix-socket adapters
//! arrive with the IPC issue. Until then the scheduler talks to its workers through the
//! shared-memory scoreboard and signals only.
