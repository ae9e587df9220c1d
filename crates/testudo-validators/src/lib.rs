#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod list;
pub mod python;
mod tables;
mod validators;

pub use error::{Error, Result};
pub use list::{
    Validators, build_validator, build_validators, configured_validators,
    password_validators_help_texts, validate_password,
};
#[doc(no_inline)]
pub use testudo_core::{InvalidPassword, PasswordValidator, UserAttributes};
pub use validators::{
    BUNDLED_COMMON_PASSWORDS, CommonPasswordValidator, MinimumLengthValidator,
    NumericPasswordValidator, UserAttributeSimilarityValidator,
};
