//! The guides of `docs/` as doctests (unpublished).
//!
//! Each module below is one guide, included with `include_str!`, so that
//! `cargo test --doc -p testudo-docs` compiles every Rust block of every guide (and runs those
//! that need no server). The modules are empty: read the guides in `docs/`.
//! `docs/configuration.md` is compiled by `testudo-config`'s doctests instead; `security.md`,
//! `benchmarks.md` and `hashing-formats.md` have no Rust code (and link to test names, for
//! GitHub).

#[doc = include_str!("../../../docs/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../../../docs/hashing.md")]
pub mod hashing {}

#[doc = include_str!("../../../docs/validators.md")]
pub mod validators {}

#[doc = include_str!("../../../docs/signing.md")]
pub mod signing {}

#[doc = include_str!("../../../docs/events.md")]
pub mod events {}

#[doc = include_str!("../../../docs/token-backends.md")]
pub mod token_backends {}

#[doc = include_str!("../../../docs/custom-backends.md")]
pub mod custom_backends {}

#[doc = include_str!("../../../docs/migrations.md")]
pub mod migrations {}

#[doc = include_str!("../../../docs/account-flows.md")]
pub mod account_flows {}

#[doc = include_str!("../../../docs/axum.md")]
pub mod axum {}

#[doc = include_str!("../../../docs/many-nodes.md")]
pub mod many_nodes {}

#[doc = include_str!("../../../docs/moving-from-tortoise-auth.md")]
pub mod moving_from_tortoise_auth {}
