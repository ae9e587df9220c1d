//! The claims of a token, read in one pass over its decoded payload: the strings borrowed from
//! it where they hold no escape, every other claim skipped without being stored.
//!
//! The rules are those testudo applied when `jsonwebtoken` parsed the payload (twice: once into
//! testudo's claims, once into its own for the `iss` / `aud` checks), so that a token is
//! accepted or refused exactly as before:
//!
//! - `iat`, `jti`, `token_type` and `extra`, given twice, keep their last value; `exp`, `nbf`,
//!   `sub`, `iss` and `aud` given twice make the payload malformed (`jsonwebtoken`'s claims
//!   refused duplicates of those);
//! - the claims testudo reads are parsed strictly (a string with an invalid escape makes the
//!   payload malformed), the others only skipped;
//! - `iss` and `aud` are a string or an array of strings, `null` is absent, anything else
//!   (a string `serde_json` refuses included) is unusable (reported as missing when the claim is
//!   required).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// An integer claim (`iat`, `nbf`, `exp`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum Int {
    /// Absent.
    #[default]
    Absent,
    /// An integer that fits an `i64`.
    Integer(i64),
    /// Any other JSON value (`null`, a float, a string, ...).
    Other,
}

/// A string claim (`sub`, `jti`, `token_type`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum Str<'a> {
    /// Absent.
    #[default]
    Absent,
    /// A string.
    Text(Cow<'a, str>),
    /// Any other JSON value (`null` included).
    Other,
}

/// `iss` or `aud`: one name or several.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum Names<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// A string.
    One(Cow<'a, str>),
    /// An array of strings.
    Many(Vec<Cow<'a, str>>),
    /// Any other JSON value.
    Other,
}

impl Names<'_> {
    /// Whether the claim holds `expected` (a string equal to it, or an array containing it).
    /// `None` when it holds no name at all (absent or unusable).
    pub(super) fn contains(&self, expected: &str) -> Option<bool> {
        match self {
            Self::One(name) => Some(name == expected),
            Self::Many(names) => Some(names.iter().any(|n| n == expected)),
            Self::Absent | Self::Other => None,
        }
    }
}

/// The claims testudo reads from a token.
#[derive(Debug, Default)]
pub(super) struct Incoming<'a> {
    pub(super) iat: Int,
    pub(super) nbf: Int,
    pub(super) exp: Int,
    pub(super) sub: Str<'a>,
    pub(super) jti: Str<'a>,
    pub(super) token_type: Str<'a>,
    /// `None` when absent (a JSON `null` is `Some(Value::Null)`).
    pub(super) extra: Option<Value>,
    pub(super) iss: Names<'a>,
    pub(super) aud: Names<'a>,
}

impl<'a> Incoming<'a> {
    /// Reads the claims of a decoded payload; `None` when it is not a JSON object or breaks a
    /// rule of the module documentation.
    pub(super) fn parse(payload: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(payload).ok()
    }
}

/// A top-level claim name, read without allocating.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ClaimName {
    Iat,
    Nbf,
    Exp,
    Sub,
    Jti,
    TokenType,
    Extra,
    Iss,
    Aud,
    #[serde(other)]
    Other,
}

/// Consumes a JSON array strictly (every string in it must be valid), as `serde_json::Value`
/// would.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Value>()?.is_some() {}
    Ok(())
}

/// Consumes a JSON object strictly.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<String, Value>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods for the JSON values a claim does not want, each returning
/// `$other`: `@each` only the scalar kinds listed; without it, arrays and objects (consumed
/// strictly) too.
macro_rules! other_values {
    (@one $other:expr, bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@one $other:expr, unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@one $other:expr, numbers) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        other_values!(@one $other, float);
    };
    (@one $other:expr, float) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@one $other:expr, strings) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
    (@each $other:expr, $($kind:ident),*) => {
        $(other_values!(@one $other, $kind);)*
    };
    ($other:expr, $($kind:ident),*) => {
        other_values!(@each $other, $($kind),*);
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok($other)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok($other)
        }
    };
}

impl<'de> serde::Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(i64::try_from(v).map_or(Int::Other, Int::Integer))
            }
            other_values!(Int::Other, bool, unit, float, strings);
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str::Text(Cow::Owned(v)))
            }
            other_values!(Str::Other, bool, unit, numbers);
        }
        d.deserialize_any(V)
    }
}

/// `iss` / `aud` as `jsonwebtoken` read them: an untagged string or array of strings.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NamesAsRead<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

impl<'de> serde::Deserialize<'de> for Names<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // As `jsonwebtoken` did: a value that is neither (or a string serde_json refuses,
        // such as a lone surrogate escape) is unusable, not a malformed payload.
        Ok(match Option::<NamesAsRead<'de>>::deserialize(d) {
            Ok(Some(NamesAsRead::One(name))) => Names::One(name),
            Ok(Some(NamesAsRead::Many(names))) => Names::Many(names),
            Ok(None) => Names::Absent,
            Err(_) => Names::Other,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Incoming<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Incoming<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Incoming<'de>, A::Error> {
                /// Sets a claim that may be given once only.
                fn once<T, E: de::Error>(
                    slot: &mut Option<T>,
                    value: T,
                    name: &'static str,
                ) -> Result<(), E> {
                    if slot.replace(value).is_some() {
                        return Err(E::duplicate_field(name));
                    }
                    Ok(())
                }
                let mut c = Incoming::default();
                let (mut exp, mut nbf, mut sub, mut iss, mut aud) = (None, None, None, None, None);
                while let Some(name) = map.next_key::<ClaimName>()? {
                    match name {
                        ClaimName::Iat => c.iat = map.next_value()?,
                        ClaimName::Jti => c.jti = map.next_value()?,
                        ClaimName::TokenType => c.token_type = map.next_value()?,
                        ClaimName::Extra => c.extra = Some(map.next_value()?),
                        ClaimName::Exp => once(&mut exp, map.next_value()?, "exp")?,
                        ClaimName::Nbf => once(&mut nbf, map.next_value()?, "nbf")?,
                        ClaimName::Sub => once(&mut sub, map.next_value()?, "sub")?,
                        ClaimName::Iss => once(&mut iss, map.next_value()?, "iss")?,
                        ClaimName::Aud => once(&mut aud, map.next_value()?, "aud")?,
                        ClaimName::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                c.exp = exp.unwrap_or_default();
                c.nbf = nbf.unwrap_or_default();
                c.sub = sub.unwrap_or_default();
                c.iss = iss.unwrap_or_default();
                c.aud = aud.unwrap_or_default();
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}
