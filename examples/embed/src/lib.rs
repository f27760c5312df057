//! The embedding guide as tests: every Rust block of `spec/embedding.md`
//! is a doctest of this crate, which sees what a host sees (`keel_vm`,
//! `keel_assembler`, `keel_stdlib`, `anyhow`), so `cargo test` fails when
//! the guide stops compiling or its asserted results stop holding. The host
//! application itself is `main.rs` (the `plugin-host` binary).
//!
//! **Invariant.** The guide's Kasm blocks are fenced ```` ```kasm ```` or
//! ```` ```text ````, so only Rust is compiled.

/// `spec/embedding.md`, whose Rust blocks run as this item's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../spec/embedding.md")]
pub struct EmbeddingGuide;
