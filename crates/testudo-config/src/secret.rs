//! Serde helpers for secrets and durations.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// An empty string means "not set", as in tortoise-auth.
pub(crate) fn non_empty_secret(s: String) -> Option<SecretString> {
    (!s.is_empty()).then(|| SecretString::from(s))
}

pub(crate) fn optional_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(non_empty_secret))
}

pub(crate) fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?
        .into_iter()
        .filter_map(non_empty_secret)
        .collect())
}

pub(crate) fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_secs(u64::deserialize(d)?))
}
