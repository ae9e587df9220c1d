//! The guides of `docs/` as doctests (unpublished).
//!
//! Each module below is one guide, included with `include_str!`, so that
//! `cargo test --doc -p testudo-docs` compiles every Rust block of every guide (and runs those
//! that need no server). The modules are empty: read the guides in `docs/`.

/// `docs/getting-started.md`.
#[doc = include_str!("../../../docs/getting-started.md")]
pub mod getting_started {}

/// `docs/moving-from-tortoise-auth.md`.
#[doc = include_str!("../../../docs/moving-from-tortoise-auth.md")]
pub mod moving_from_tortoise_auth {}
