//! The operations timed against tortoise-auth, the criterion ids of testudo's side and of the
//! raw crate loops, and the goals of issue 9 for each.

/// Where a testudo figure comes from: a bench target of a workspace package.
pub(crate) type BenchKey = (&'static str, &'static str);

/// A goal of issue 9 for one operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    /// testudo's throughput is at least this fraction of the raw crate loop's.
    OfRaw(f64),
    /// testudo takes at most this many times the raw crate loop's time.
    WithinRaw(f64),
    /// testudo is at least this many times as fast as tortoise-auth.
    Faster(f64),
    /// testudo takes at most this many times tortoise-auth's time.
    WithinPython(f64),
}

impl Target {
    /// `Some(met)` when the figures it needs are there.
    pub(crate) fn met(
        self,
        testudo_ns: Option<f64>,
        raw_ns: Option<f64>,
        python_ns: Option<f64>,
    ) -> Option<bool> {
        let testudo = testudo_ns.filter(|ns| *ns > 0.0)?;
        match self {
            Self::OfRaw(fraction) => raw_ns.map(|raw| raw / testudo >= fraction),
            Self::WithinRaw(factor) => raw_ns.map(|raw| testudo <= raw * factor),
            Self::Faster(factor) => python_ns.map(|py| py / testudo >= factor),
            Self::WithinPython(factor) => python_ns.map(|py| testudo <= py * factor),
        }
    }

    /// Whether it compares with the raw crate loop (shown in the summary) or with tortoise-auth.
    pub(crate) const fn is_raw(self) -> bool {
        matches!(self, Self::OfRaw(_) | Self::WithinRaw(_))
    }

    /// The goal in words, as the tables show it.
    pub(crate) fn describe(self) -> String {
        match self {
            Self::OfRaw(fraction) => format!("≥ {fraction:.2} of raw"),
            Self::WithinRaw(factor) => format!("≤ {factor}x raw time"),
            Self::Faster(factor) => format!("≥ {factor}x tortoise-auth"),
            Self::WithinPython(factor) => format!("≤ {factor}x tortoise-auth time"),
        }
    }
}

/// One operation timed on both sides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    /// What the table calls it (unique).
    pub(crate) label: &'static str,
    /// The operation's name in `bench/compare.py` (several pairs may share one).
    pub(crate) python: &'static str,
    /// The bench executable holding testudo's side and the raw twin, if any.
    pub(crate) bench: Option<BenchKey>,
    /// testudo's criterion benchmark id, or why testudo has no such operation.
    pub(crate) rust: Result<&'static str, &'static str>,
    /// The criterion id of the raw-crate-loop twin in the same executable (`raw/...`).
    pub(crate) raw: Option<&'static str>,
    /// The goals of issue 9 for this operation.
    pub(crate) targets: &'static [Target],
}

const SIGNING: Option<BenchKey> = Some(("testudo-signing", "signing"));
const JWT: Option<BenchKey> = Some(("testudo-tokens-jwt", "jwt"));
const TOKENS_DB: Option<BenchKey> = Some(("testudo-tokens-db", "tokens"));
const SERVICE: Option<BenchKey> = Some(("testudo-service", "authenticate"));
const VALIDATORS: Option<BenchKey> = Some(("testudo-validators", "validators"));
pub(crate) const HASHERS: Option<BenchKey> = Some(("testudo-hashers", "hashers"));

/// Signing: >= 80% of the raw loop's throughput, hence >= 9x tortoise-auth.
const SIGNING_TARGETS: &[Target] = &[Target::OfRaw(0.8), Target::Faster(9.0)];
/// bcrypt and PBKDF2: within 1.1x of the raw crate loop.
const HASH_TARGETS: &[Target] = &[Target::WithinRaw(1.1)];

/// The operations of the comparison, with the criterion ids of the crates' benches.
pub(crate) const PAIRS: &[Pair] = &[
    Pair {
        label: "Signer.sign",
        python: "signing.sign",
        bench: SIGNING,
        rust: Ok("sign"),
        raw: Some("raw/sign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "Signer.unsign",
        python: "signing.unsign",
        bench: SIGNING,
        rust: Ok("unsign"),
        raw: Some("raw/unsign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "TimestampSigner sign",
        python: "signing.timestamp_sign",
        bench: SIGNING,
        rust: Ok("timestamp_sign"),
        raw: Some("raw/timestamp_sign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "TimestampSigner unsign",
        python: "signing.timestamp_unsign",
        bench: SIGNING,
        rust: Ok("timestamp_unsign"),
        raw: Some("raw/timestamp_unsign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "JWT create_tokens (HS256 pair)",
        python: "jwt.create_tokens_hs256",
        bench: JWT,
        rust: Ok("create_tokens/HS256"),
        raw: Some("raw/create_tokens/HS256"),
        targets: &[Target::OfRaw(0.8), Target::Faster(25.0)],
    },
    Pair {
        label: "JWT verify_token (HS256)",
        python: "jwt.verify_token_hs256",
        bench: JWT,
        rust: Ok("verify_token/HS256"),
        raw: Some("raw/verify_token/HS256"),
        targets: &[Target::OfRaw(0.8), Target::Faster(25.0)],
    },
    Pair {
        label: "DB create_tokens (SQLite file)",
        python: "db.create_tokens",
        bench: TOKENS_DB,
        rust: Ok("create_tokens (sqlite file)"),
        raw: None,
        targets: &[Target::Faster(2.0)],
    },
    Pair {
        label: "DB create_tokens, user at max_tokens_per_user (SQLite file)",
        python: "db.create_tokens",
        bench: TOKENS_DB,
        rust: Ok("create_tokens at max_tokens_per_user (sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "DB verify_token (100k rows, SQLite file)",
        python: "db.verify_token_100k",
        bench: TOKENS_DB,
        rust: Ok("verify_token (100k rows, sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "AuthService.authenticate (100k rows, SQLite file)",
        python: "service.authenticate",
        bench: SERVICE,
        rust: Ok("authenticate (100k rows, sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "authenticate, 16 concurrent callers (100k rows, SQLite file)",
        python: "service.authenticate_x16",
        bench: SERVICE,
        rust: Ok("authenticate x16 (100k rows, sqlite file)"),
        raw: None,
        targets: &[Target::Faster(10.0)],
    },
    Pair {
        label: "authenticate, 16 concurrent callers, cached (100k rows, SQLite file)",
        python: "service.authenticate_x16",
        bench: SERVICE,
        rust: Ok("authenticate x16 cached (100k rows, sqlite file)"),
        raw: None,
        targets: &[Target::Faster(100.0)],
    },
    Pair {
        label: "authenticate, 16 concurrent callers (100k rows, PostgreSQL)",
        python: "service.authenticate_x16_pg",
        bench: SERVICE,
        rust: Ok("authenticate x16 (100k rows, postgres)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "authenticate, 16 concurrent callers, cached (100k rows, PostgreSQL)",
        python: "service.authenticate_x16_pg",
        bench: SERVICE,
        rust: Ok("authenticate x16 cached (100k rows, postgres)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "validate_password (typical, no user)",
        python: "validators.validate_password_typical",
        bench: VALIDATORS,
        rust: Ok("validate_password/typical"),
        raw: Some("raw/validate_password/typical"),
        targets: &[Target::OfRaw(0.8), Target::Faster(40.0)],
    },
    Pair {
        label: "Argon2id hash (t=3, m=64 MiB, p=4), parallel lanes",
        python: "hash.argon2id_hash",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_hash"),
        raw: None,
        targets: &[Target::WithinPython(1.1)],
    },
    Pair {
        label: "Argon2id hash (t=3, m=64 MiB, p=4), sequential lanes",
        python: "hash.argon2id_hash",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_hash_sequential"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "Argon2id verify (t=3, m=64 MiB, p=4)",
        python: "hash.argon2id_verify",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_verify"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "bcrypt hash (cost 12)",
        python: "hash.bcrypt12_hash",
        bench: HASHERS,
        rust: Err("n/a (testudo never writes bcrypt)"),
        raw: Some("raw/hashers/bcrypt_12_hash"),
        targets: &[],
    },
    Pair {
        label: "bcrypt verify (cost 12)",
        python: "hash.bcrypt12_verify",
        bench: HASHERS,
        rust: Ok("hashers/bcrypt_12_verify"),
        raw: Some("raw/hashers/bcrypt_12_verify"),
        targets: HASH_TARGETS,
    },
    Pair {
        label: "PBKDF2-SHA256 hash (600 000)",
        python: "hash.pbkdf2_600k_hash",
        bench: HASHERS,
        rust: Err("n/a (testudo never writes PBKDF2)"),
        raw: Some("raw/hashers/pbkdf2_600000_hash"),
        targets: &[],
    },
    Pair {
        label: "PBKDF2-SHA256 verify (600 000)",
        python: "hash.pbkdf2_600k_verify",
        bench: HASHERS,
        rust: Ok("hashers/pbkdf2_600000_verify"),
        raw: Some("raw/hashers/pbkdf2_600000_verify"),
        targets: HASH_TARGETS,
    },
];

/// The pair whose testudo side is `id` in `package`.
pub(crate) fn pair_for(package: &str, id: &str) -> Option<&'static Pair> {
    PAIRS
        .iter()
        .find(|p| p.bench.is_some_and(|(pkg, _)| pkg == package) && p.rust == Ok(id))
}

/// The pairs whose label contains `only` (ignoring case), every pair without it.
pub(crate) fn selected(only: Option<&str>) -> Vec<&'static Pair> {
    let only = only.map(str::to_lowercase);
    PAIRS
        .iter()
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| p.label.to_lowercase().contains(o))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_the_labels_containing_it_whatever_the_case() {
        let jwt = selected(Some("jwt"));
        assert_eq!(jwt.len(), 2);
        assert!(jwt.iter().all(|p| p.label.starts_with("JWT")));
        assert_eq!(selected(None).len(), PAIRS.len());
        assert!(selected(Some("no such operation")).is_empty());
    }

    #[test]
    fn pairs_are_consistent() {
        let mut labels: Vec<_> = PAIRS.iter().map(|p| p.label).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), PAIRS.len(), "labels key the samples: unique");
        for pair in PAIRS {
            // The summary finds a raw twin by this naming rule.
            if let (Ok(id), Some(raw)) = (pair.rust, pair.raw) {
                assert_eq!(raw, format!("raw/{id}"), "{}", pair.label);
            }
            if pair.targets.iter().any(|t| t.is_raw()) {
                assert!(
                    pair.raw.is_some(),
                    "{}: a raw target needs a raw twin",
                    pair.label
                );
            }
            assert!(pair.bench.is_some() || pair.rust.is_err(), "{}", pair.label);
        }
    }

    #[test]
    fn targets_compare_the_right_figures() {
        // 80% of raw throughput: raw 80 ns, testudo 100 ns is exactly on it.
        assert_eq!(
            Target::OfRaw(0.8).met(Some(100.0), Some(80.0), None),
            Some(true)
        );
        assert_eq!(
            Target::OfRaw(0.8).met(Some(101.0), Some(80.0), None),
            Some(false)
        );
        assert_eq!(Target::OfRaw(0.8).met(Some(100.0), None, Some(1.0)), None);
        assert_eq!(
            Target::WithinRaw(1.1).met(Some(109.0), Some(100.0), None),
            Some(true)
        );
        assert_eq!(
            Target::WithinRaw(1.1).met(Some(111.0), Some(100.0), None),
            Some(false)
        );
        assert_eq!(
            Target::Faster(10.0).met(Some(1.0), None, Some(10.0)),
            Some(true)
        );
        assert_eq!(
            Target::Faster(10.0).met(Some(1.0), None, Some(9.0)),
            Some(false)
        );
        assert_eq!(
            Target::WithinPython(1.1).met(Some(160.0), None, Some(150.0)),
            Some(true)
        );
        assert_eq!(
            Target::WithinPython(1.1).met(Some(170.0), None, Some(150.0)),
            Some(false)
        );
        assert_eq!(Target::Faster(10.0).met(None, None, Some(9.0)), None);
    }
}
