#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod keys;
mod recovery;
mod totp;

pub use error::{Error, Result};
pub use keys::{Keyring, Opened};
pub use recovery::{
    RECOVERY_CODE_LEN, canonical as canonical_recovery_code, generate_recovery_codes,
    normalize_recovery_code,
};
pub use testudo_config::TotpAlgorithm;
pub use totp::{STEP_SECONDS, Totp, TotpParams, TotpSecret, looks_like_totp_code, qr_svg};
