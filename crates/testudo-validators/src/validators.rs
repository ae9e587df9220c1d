//! The four built-in validators.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use testudo_core::{PasswordValidator, UserAttributes};

use crate::error::{Error, Result};
use crate::python;

/// Refuses passwords shorter than `min_length` characters (Unicode code points, as Python's
/// `len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumLengthValidator {
    /// The minimum number of characters. Default 8.
    pub min_length: usize,
}

impl MinimumLengthValidator {
    /// A validator requiring at least `min_length` characters.
    #[must_use]
    pub const fn new(min_length: usize) -> Self {
        Self { min_length }
    }
}

impl Default for MinimumLengthValidator {
    fn default() -> Self {
        Self::new(8)
    }
}

impl PasswordValidator for MinimumLengthValidator {
    fn validate(&self, password: &str, _user: Option<&dyn UserAttributes>) -> Result<(), String> {
        // Counting stops once the minimum is reached, so huge passwords cost nothing here.
        if password.chars().take(self.min_length).count() < self.min_length {
            Err(format!(
                "This password is too short. It must contain at least {} characters.",
                self.min_length
            ))
        } else {
            Ok(())
        }
    }

    fn help_text(&self) -> String {
        format!(
            "Your password must contain at least {} characters.",
            self.min_length
        )
    }
}

/// The list of common passwords bundled with the crate (tortoise-auth's, which is Django's; see
/// `data/README.md` for its origin and licence).
pub const BUNDLED_COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// A set of lower-cased passwords, hashed with foldhash (seeded per process) rather than the
/// standard library's default hasher: the set is built once from a trusted list and only looked
/// up afterwards, so no input can grow its chains, and a lookup runs on every password check.
type PasswordSet = HashSet<String, foldhash::fast::RandomState>;

static BUNDLED: LazyLock<Arc<PasswordSet>> =
    LazyLock::new(|| Arc::new(parse_list(BUNDLED_COMMON_PASSWORDS)));

/// Parses a list as tortoise-auth does: every non-blank line, trimmed and lower-cased.
fn parse_list(text: &str) -> PasswordSet {
    text.split(['\n', '\r'])
        .map(python::strip)
        .filter(|line| !line.is_empty())
        .map(python::lower)
        .collect()
}

/// Reads a list file: gzip (recognised by its magic bytes `1f 8b`) or plain, always UTF-8.
fn read_list(path: &Path) -> std::io::Result<PasswordSet> {
    let bytes = std::fs::read(path)?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
        out
    } else {
        bytes
    };
    let text = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))?;
    Ok(parse_list(&text))
}

/// Refuses passwords whose lower-cased form is in a list of common passwords.
///
/// The candidate is lower-cased but not trimmed, as in tortoise-auth (`" password"` passes,
/// `"PASSWORD"` fails). The bundled list is parsed once, on first use, and shared.
#[derive(Clone)]
pub struct CommonPasswordValidator {
    passwords: Arc<PasswordSet>,
    path: Option<PathBuf>,
}

impl CommonPasswordValidator {
    /// A validator using the bundled list (19,640 entries).
    #[must_use]
    pub fn new() -> Self {
        Self {
            passwords: Arc::clone(&BUNDLED),
            path: None,
        }
    }

    /// A validator using the list in the file at `path` instead of the bundled one: one password
    /// per line, UTF-8, plain or gzip-compressed. Lines are trimmed and lower-cased; blank lines
    /// are skipped. The file is read now, once.
    ///
    /// # Errors
    ///
    /// [`Error::PasswordList`] naming `path` when the file is missing, unreadable, not valid
    /// gzip, or not UTF-8.
    pub fn from_path(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        match read_list(&path) {
            Ok(set) => Ok(Self {
                passwords: Arc::new(set),
                path: Some(path),
            }),
            Err(source) => Err(Error::PasswordList { path, source }),
        }
    }

    /// A validator using the given passwords (lower-cased here).
    #[must_use]
    pub fn from_passwords<I, S>(passwords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            passwords: Arc::new(
                passwords
                    .into_iter()
                    .map(|p| python::lower(p.as_ref()))
                    .collect(),
            ),
            path: None,
        }
    }

    /// How many distinct passwords the list holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Whether `password`, lower-cased, is in the list.
    #[must_use]
    pub fn is_common(&self, password: &str) -> bool {
        // A short ASCII password is lower-cased on the stack (ASCII lower-casing is Python's
        // for those characters); anything else goes through the full Unicode `lower`.
        const STACK: usize = 64;
        if password.is_ascii() && password.len() <= STACK {
            let mut buf = [0_u8; STACK];
            let lowered = &mut buf[..password.len()];
            lowered.copy_from_slice(password.as_bytes());
            lowered.make_ascii_lowercase();
            return std::str::from_utf8(lowered).is_ok_and(|l| self.passwords.contains(l));
        }
        self.passwords.contains(&python::lower(password))
    }
}

impl Default for CommonPasswordValidator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CommonPasswordValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonPasswordValidator")
            .field("path", &self.path)
            .field("len", &self.passwords.len())
            .finish()
    }
}

impl PasswordValidator for CommonPasswordValidator {
    fn validate(&self, password: &str, _user: Option<&dyn UserAttributes>) -> Result<(), String> {
        if self.is_common(password) {
            Err("This password is too common.".to_owned())
        } else {
            Ok(())
        }
    }

    fn help_text(&self) -> String {
        "Your password can't be a commonly used password.".to_owned()
    }
}

/// Refuses passwords made only of digits, with Python's `str.isdigit` semantics (superscripts,
/// circled and other scripts' digits count; `½` and Roman numerals do not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumericPasswordValidator;

impl PasswordValidator for NumericPasswordValidator {
    fn validate(&self, password: &str, _user: Option<&dyn UserAttributes>) -> Result<(), String> {
        if python::is_digit(password) {
            Err("This password is entirely numeric.".to_owned())
        } else {
            Ok(())
        }
    }

    fn help_text(&self) -> String {
        "Your password can't be entirely numeric.".to_owned()
    }
}

/// Refuses passwords too similar to one of the user's attributes.
///
/// For each attribute name, in order, a value that is missing or empty is skipped; otherwise the
/// lower-cased password is compared with the lower-cased whole value and, if the value contains
/// `@`, with the text before the first `@`, by [`python::quick_ratio`]. The first ratio at or
/// above `max_similarity` refuses the password with `The password is too similar to the
/// {name}.` Without a user the validator passes.
#[derive(Debug, Clone, PartialEq)]
pub struct UserAttributeSimilarityValidator {
    /// The attribute names to compare with. Default `["email"]`.
    pub user_attributes: Vec<String>,
    /// The ratio at or above which the password is refused. Default 0.7.
    pub max_similarity: f64,
}

impl UserAttributeSimilarityValidator {
    /// A validator comparing with `user_attributes` and refusing at `max_similarity`.
    #[must_use]
    pub fn new<I, S>(user_attributes: I, max_similarity: f64) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            user_attributes: user_attributes.into_iter().map(Into::into).collect(),
            max_similarity,
        }
    }

    /// The highest ratio between `password` and the candidates taken from `value` (the whole
    /// value and its part before the first `@`), after lower-casing; `None` when every candidate
    /// is empty.
    #[must_use]
    pub fn similarity(password: &str, value: &str) -> Option<f64> {
        let password = python::lower(password);
        candidates(value)
            .map(|c| python::quick_ratio(&password, &c))
            .reduce(f64::max)
    }
}

fn candidates(value: &str) -> impl Iterator<Item = String> + '_ {
    let local = value.split_once('@').map(|(local, _)| local);
    std::iter::once(value)
        .chain(local)
        .map(python::lower)
        .filter(|c| !c.is_empty())
}

impl Default for UserAttributeSimilarityValidator {
    fn default() -> Self {
        Self::new(["email"], 0.7)
    }
}

impl PasswordValidator for UserAttributeSimilarityValidator {
    fn validate(&self, password: &str, user: Option<&dyn UserAttributes>) -> Result<(), String> {
        let Some(user) = user else {
            return Ok(());
        };
        let mut lowered: Option<String> = None;
        for name in &self.user_attributes {
            let Some(value) = user.attribute(name) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            let password = lowered.get_or_insert_with(|| python::lower(password));
            for candidate in candidates(&value) {
                if python::quick_ratio(password, &candidate) >= self.max_similarity {
                    return Err(format!("The password is too similar to the {name}."));
                }
            }
        }
        Ok(())
    }

    fn help_text(&self) -> String {
        "Your password can't be too similar to your other personal information.".to_owned()
    }
}
