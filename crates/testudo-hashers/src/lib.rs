#![doc = include_str!("../README.md")]

mod custom;
mod error;
mod formats;
mod password;
mod service;

pub use custom::PasswordFormat;
pub use error::{CostKind, Error, HashPart, Result, StoredHashError};
pub use formats::{CostBudget, HashFormat};
pub use password::{
    HASH_LEN, MAX_ARGON2_PARALLELISM, MAX_ARGON2_TIME_COST, PasswordHasher,
    REFERENCE_ARGON2_MEMORY_KIB, REFERENCE_ARGON2_TIME_COST, REFERENCE_BCRYPT_COST,
    REFERENCE_PBKDF2_ITERATIONS, REFERENCE_SCRYPT_WORK, SALT_LEN, STORED_COST_FACTOR, Verification,
    check_password, check_password_length, default_password_hasher, identify, is_usable,
    make_password, make_unusable_password,
};
pub use service::{AsyncHasher, DEFAULT_QUEUE_TIMEOUT};
