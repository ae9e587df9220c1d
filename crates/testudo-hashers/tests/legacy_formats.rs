//! The legacy password formats against hashes written by the real software
//! (`testdata/legacy-hashes/vectors.json`, made by `generate.py` there with Django, passlib and
//! `pyca/bcrypt` from `PyPI`), their cost ceilings, malformed strings, the insecure-digest opt-in,
//! the bcrypt pepper and the `PasswordFormat` extension point.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use testudo_config::AuthConfig;
use testudo_hashers::{
    AsyncHasher, CostBudget, CostKind, Error, HashFormat, HashPart, PasswordFormat, PasswordHasher,
    StoredHashError, identify,
};
use testudo_test_support::TestResult;

const VECTORS: &str = include_str!("../../../testdata/legacy-hashes/vectors.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[expect(dead_code, reason = "information only")]
    generator: String,
    devise_pepper: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    format: String,
    source: String,
    password: String,
    hash: String,
    wrong: Vec<String>,
    default_cost: bool,
    insecure: bool,
    pepper: bool,
}

fn load() -> TestResult<File> {
    Ok(serde_json::from_str(VECTORS)?)
}

/// The [`HashFormat`] each `format` of the file is read as.
fn expected_format(name: &str) -> Option<HashFormat> {
    Some(match name {
        "django_scrypt" => HashFormat::DjangoScrypt,
        "django_pbkdf2_sha256" => HashFormat::DjangoPbkdf2Sha256,
        "django_pbkdf2_sha1" => HashFormat::DjangoPbkdf2Sha1,
        "django_argon2" => HashFormat::DjangoArgon2,
        "django_bcrypt_sha256" => HashFormat::DjangoBcryptSha256,
        "django_bcrypt" => HashFormat::DjangoBcrypt,
        "django_sha1" => HashFormat::DjangoSha1,
        "django_md5" => HashFormat::DjangoMd5,
        "django_unsalted_sha1" => HashFormat::DjangoUnsaltedSha1,
        "django_unsalted_md5" => HashFormat::DjangoUnsaltedMd5,
        "scrypt" => HashFormat::Scrypt,
        "passlib_pbkdf2_sha1" => HashFormat::PasslibPbkdf2Sha1,
        "passlib_pbkdf2_sha256" => HashFormat::PasslibPbkdf2Sha256,
        "passlib_pbkdf2_sha512" => HashFormat::PasslibPbkdf2Sha512,
        "phc_pbkdf2_sha256" => HashFormat::PhcPbkdf2Sha256,
        "bcrypt" | "devise_bcrypt" => HashFormat::Bcrypt,
        _ => return None,
    })
}

fn cheap_config() -> AuthConfig {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1000;
    c
}

/// The hasher a vector is checked with: the insecure opt-in for the digests, the pepper for
/// Devise's hashes (and neither otherwise, so each is shown to be needed).
fn hasher_for(v: &Vector, pepper: &str) -> TestResult<PasswordHasher> {
    let mut c = cheap_config();
    c.allow_insecure_legacy_hashes = v.insecure;
    if v.pepper {
        c.bcrypt_pepper = Some(SecretString::from(pepper.to_owned()));
    }
    Ok(PasswordHasher::from_config(&c)?)
}

/// Checks `v`: its format, the right password (and the upgrade), and `wrong_passwords` of its
/// wrong ones (all of them for cheap vectors; one for default-cost ones, to keep the suite fast).
fn check_vector(v: &Vector, pepper: &str, wrong_passwords: usize) -> TestResult {
    let what = format!("{} ({}) {}", v.format, v.source, v.hash);
    let format = expected_format(&v.format).ok_or_else(|| format!("unknown format {what}"))?;
    let h = hasher_for(v, pepper)?;
    assert_eq!(identify(&v.hash), Some(format), "{what}");
    assert_eq!(h.check_stored(&v.hash), Ok(format), "{what}");
    assert!(h.needs_rehash(&v.hash), "{what}");

    let ok = h.try_verify(&v.password, &v.hash)?;
    assert!(ok.valid, "{what}: the right password was refused");
    let upgraded = ok.upgraded.ok_or_else(|| format!("{what}: no upgrade"))?;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
        "{what}: upgraded to {upgraded}"
    );
    assert_eq!(identify(&upgraded), Some(HashFormat::Argon2));
    assert!(!h.needs_rehash(&upgraded), "{what}");
    let again = h.verify(&v.password, &upgraded);
    assert!(again.valid && again.upgraded.is_none(), "{what}");

    assert!(!v.wrong.is_empty(), "{what}: no wrong passwords");
    for wrong in v.wrong.iter().take(wrong_passwords) {
        let refused = h.try_verify(wrong, &v.hash)?;
        assert!(!refused.valid, "{what}: {wrong:?} verified");
        assert!(refused.upgraded.is_none());
        assert!(
            !h.verify(wrong, &upgraded).valid,
            "{what}: {wrong:?} verified"
        );
    }
    Ok(())
}

/// Every format the issue names has vectors (so a generator that drops one fails here).
#[test]
fn the_vectors_cover_every_legacy_format_with_a_default_cost_one_for_each() -> TestResult {
    let file = load()?;
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for v in &file.vectors {
        let entry = counts.entry(v.format.as_str()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(v.default_cost);
    }
    for format in [
        "django_scrypt",
        "django_pbkdf2_sha256",
        "django_pbkdf2_sha1",
        "django_argon2",
        "scrypt",
        "passlib_pbkdf2_sha1",
        "passlib_pbkdf2_sha256",
        "passlib_pbkdf2_sha512",
        "bcrypt",
        "devise_bcrypt",
    ] {
        let (all, default) = counts.get(format).copied().unwrap_or_default();
        assert!(all >= 2, "{format}: {all} vectors");
        assert!(default >= 1, "{format}: no default-cost vector");
    }
    for format in [
        "django_bcrypt_sha256",
        "django_bcrypt",
        "django_sha1",
        "django_md5",
        "django_unsalted_sha1",
        "django_unsalted_md5",
        "phc_pbkdf2_sha256",
    ] {
        assert!(counts.contains_key(format), "{format}: no vectors");
    }
    // The Django argon2 parameter sets and PHP's and Devise's bcrypt prefixes are all there.
    let hashes: Vec<&str> = file.vectors.iter().map(|v| v.hash.as_str()).collect();
    for shape in [
        "argon2$argon2id$v=19$m=102400,t=2,p=8$",
        "argon2$argon2i$v=19$m=512,t=2,p=2$",
        "argon2$argon2i$m=512,t=2,p=2$",
        "argon2$argon2d$v=19$",
        "$2y$10$",
        "$2y$04$",
        "$2a$04$",
        "md5$$",
        "sha1$$",
    ] {
        assert!(
            hashes.iter().any(|h| h.starts_with(shape)),
            "no vector starting {shape}"
        );
    }
    Ok(())
}

#[test]
fn every_cheap_vector_verifies_refuses_wrong_passwords_and_is_upgraded_to_argon2id() -> TestResult {
    let file = load()?;
    let mut checked = 0;
    for v in file.vectors.iter().filter(|v| !v.default_cost) {
        check_vector(v, &file.devise_pepper, usize::MAX)?;
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} vectors");
    Ok(())
}

/// The vectors made with each program's default parameters (Django's scrypt, PBKDF2 and
/// argon2 defaults, passlib's, PHP's cost 10, Devise's 12): within the stored-cost budget of
/// the default configuration, so they verify there too.
#[test]
fn every_default_cost_vector_verifies_and_is_accepted_by_the_default_budget() -> TestResult {
    let file = load()?;
    let defaults = PasswordHasher::from_config(&AuthConfig::default())?;
    let mut checked = 0;
    for v in file.vectors.iter().filter(|v| v.default_cost) {
        check_vector(v, &file.devise_pepper, 1)?;
        assert!(
            defaults.accepts_stored(&v.hash),
            "{}: refused by the default budget",
            v.source
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} vectors");
    Ok(())
}

#[test]
fn insecure_digests_are_an_unknown_format_unless_opted_in() -> TestResult {
    let file = load()?;
    let off = PasswordHasher::from_config(&cheap_config())?;
    let mut checked = 0;
    for v in file.vectors.iter().filter(|v| v.insecure) {
        assert_eq!(
            off.check_stored(&v.hash),
            Err(StoredHashError::UnknownFormat),
            "{}",
            v.hash
        );
        assert!(!off.verify(&v.password, &v.hash).valid, "{}", v.hash);
        assert!(matches!(
            off.try_verify(&v.password, &v.hash),
            Err(Error::StoredHash(StoredHashError::UnknownFormat))
        ));
        // Shape alone still names the format, and it says it is insecure.
        assert!(identify(&v.hash).is_some_and(HashFormat::is_insecure));
        checked += 1;
    }
    assert!(checked >= 10);
    // Only the digests need the opt-in.
    for v in file
        .vectors
        .iter()
        .filter(|v| !v.insecure && !v.default_cost)
    {
        assert!(identify(&v.hash).is_some_and(|f| !f.is_insecure()));
    }
    Ok(())
}

#[tokio::test]
async fn an_insecure_digest_costs_a_dummy_verification_when_the_opt_in_is_off() -> TestResult {
    let off = AsyncHasher::new(&cheap_config())?;
    let on = AsyncHasher::new(&{
        let mut c = cheap_config();
        c.allow_insecure_legacy_hashes = true;
        c
    })?;
    // Python: hashlib.md5(b"pw").hexdigest()
    let stored = "8fe4c11451281c094a6578e6ddbf5eed";
    let refused = off
        .verify(SecretString::from("pw"), stored.to_owned())
        .await?;
    assert!(!refused.valid);
    assert_eq!((off.verifications(), off.dummy_verifications()), (1, 1));
    let accepted = on
        .verify(SecretString::from("pw"), stored.to_owned())
        .await?;
    assert!(accepted.valid && accepted.upgraded.is_some());
    assert_eq!((on.verifications(), on.dummy_verifications()), (1, 0));
    Ok(())
}

#[test]
fn the_devise_pepper_is_needed_for_devise_hashes_and_breaks_unpeppered_bcrypt() -> TestResult {
    let file = load()?;
    let plain = PasswordHasher::from_config(&cheap_config())?;
    let peppered = PasswordHasher::from_config(&{
        let mut c = cheap_config();
        c.bcrypt_pepper = Some(SecretString::from(file.devise_pepper.clone()));
        c
    })?;
    let devise = file
        .vectors
        .iter()
        .find(|v| v.pepper)
        .ok_or("no Devise vector")?;
    assert!(peppered.verify(&devise.password, &devise.hash).valid);
    assert!(!plain.verify(&devise.password, &devise.hash).valid);
    // A bare bcrypt hash without pepper no longer verifies once a pepper is configured...
    let php = file
        .vectors
        .iter()
        .find(|v| v.format == "bcrypt" && !v.default_cost)
        .ok_or("no bcrypt vector")?;
    assert!(plain.verify(&php.password, &php.hash).valid);
    assert!(!peppered.verify(&php.password, &php.hash).valid);
    // ...but Django's bcrypt formats ignore the pepper.
    for v in file
        .vectors
        .iter()
        .filter(|v| v.format.starts_with("django_bcrypt"))
    {
        assert!(peppered.verify(&v.password, &v.hash).valid, "{}", v.hash);
    }
    let shown = format!("{peppered:?}");
    assert!(
        !shown.contains(&file.devise_pepper[..16]),
        "the pepper leaked"
    );
    Ok(())
}

/// Django scrypt with placeholder salt and hash (64 bytes): only the budget decision is
/// checked, nothing is hashed.
fn django_scrypt(n: &str, r: &str, p: &str) -> String {
    let hash = "A".repeat(86);
    format!("scrypt${n}$salt${r}${p}${hash}")
}

fn phc_scrypt(params: &str) -> String {
    format!("$scrypt${params}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

fn over(format: HashFormat, cost: CostKind) -> Result<HashFormat, StoredHashError> {
    Err(StoredHashError::OverBudget { format, cost })
}

fn malformed(format: HashFormat, part: HashPart) -> Result<HashFormat, StoredHashError> {
    Err(StoredHashError::Malformed { format, part })
}

/// The stored-cost budget of the default configuration for the new formats: scrypt memory
/// `128 * r * (N + p)` up to 4 x 64 MiB and work `N * r * p` up to 4 x passlib's default;
/// PBKDF2 up to 4 x 600 000 iterations per block (SHA-512 iterations count twice).
#[test]
fn each_formats_cost_ceiling_refuses_an_absurd_stored_cost() -> TestResult {
    let h = PasswordHasher::from_config(&AuthConfig::default())?;
    let budget: &CostBudget = h.cost_budget();
    assert_eq!(budget.scrypt_max_work(), 1 << 21);
    assert_eq!(budget.max_memory_kib(), 262_144);
    assert_eq!(budget.pbkdf2_max_iterations(), 2_400_000);

    let d = HashFormat::DjangoScrypt;
    assert_eq!(h.check_stored(&django_scrypt("16384", "8", "1")), Ok(d));
    assert_eq!(h.check_stored(&django_scrypt("131072", "8", "1")), Ok(d));
    // 256 MiB for V plus 1 KiB for B: just over.
    assert_eq!(
        h.check_stored(&django_scrypt("262144", "8", "1")),
        over(d, CostKind::Memory)
    );
    // B alone: 128 * r * p bytes.
    assert_eq!(h.check_stored(&django_scrypt("2", "1", "1048576")), Ok(d));
    assert_eq!(
        h.check_stored(&django_scrypt("2", "2", "1048576")),
        over(d, CostKind::Memory)
    );
    assert_eq!(
        h.check_stored(&django_scrypt("16384", "8", "17")),
        over(d, CostKind::Work)
    );
    // p = 2^32 - 1 would hold 128 * r * p bytes for B before any work.
    assert_eq!(
        h.check_stored(&django_scrypt("16384", "8", "4294967295")),
        over(d, CostKind::Memory)
    );
    assert_eq!(
        h.check_stored(&django_scrypt("9223372036854775808", "8", "1")),
        over(d, CostKind::Memory)
    );
    let s = HashFormat::Scrypt;
    assert_eq!(h.check_stored(&phc_scrypt("ln=16,r=8,p=1")), Ok(s));
    assert_eq!(h.check_stored(&phc_scrypt("p=4,r=8,ln=16")), Ok(s));
    assert_eq!(
        h.check_stored(&phc_scrypt("ln=19,r=8,p=1")),
        over(s, CostKind::Memory)
    );
    assert_eq!(
        h.check_stored(&phc_scrypt("ln=16,r=8,p=5")),
        over(s, CostKind::Work)
    );
    assert_eq!(
        h.check_stored(&phc_scrypt("ln=4294967295,r=8,p=1")),
        over(s, CostKind::Memory)
    );
    assert_eq!(
        h.check_stored(&phc_scrypt("ln=10,r=4294967295,p=4294967295")),
        over(s, CostKind::Memory)
    );

    let pbkdf2: [(HashFormat, &str, u32); 7] = [
        (
            HashFormat::DjangoPbkdf2Sha1,
            "pbkdf2_sha1${n}$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            2_400_000,
        ),
        (
            HashFormat::PasslibPbkdf2Sha1,
            "$pbkdf2${n}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAA",
            2_400_000,
        ),
        (
            HashFormat::PasslibPbkdf2Sha256,
            "$pbkdf2-sha256${n}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            2_400_000,
        ),
        (
            HashFormat::PasslibPbkdf2Sha512,
            &format!("$pbkdf2-sha512${{n}}$c2FsdHNhbHQ${}", "A".repeat(86)),
            1_200_000,
        ),
        (
            HashFormat::PhcPbkdf2Sha256,
            "$pbkdf2-sha256$i={n},l=32$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            2_400_000,
        ),
        // 40 bytes of SHA-256 output are two blocks: each costs the iterations.
        (
            HashFormat::PhcPbkdf2Sha256,
            &format!("$pbkdf2-sha256$i={{n}},l=40$c2FsdHNhbHQ${}", "A".repeat(54)),
            1_200_000,
        ),
        (
            HashFormat::PhcPbkdf2Sha512,
            &format!("$pbkdf2-sha512$i={{n}},l=64$c2FsdHNhbHQ${}", "A".repeat(86)),
            1_200_000,
        ),
    ];
    for (format, template, ceiling) in pbkdf2 {
        let at = |n: u32| template.replace("{n}", &n.to_string());
        assert_eq!(h.check_stored(&at(ceiling)), Ok(format), "{template}");
        assert_eq!(
            h.check_stored(&at(ceiling + 1)),
            over(format, CostKind::Iterations),
            "{template}"
        );
        assert_eq!(
            h.check_stored(&at(u32::MAX)),
            over(format, CostKind::Iterations),
            "{template}"
        );
    }

    // bcrypt in every wrapper: the reference cost 12 plus 2.
    let bcrypt =
        |cost: u32| format!("$2y${cost:02}$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234");
    assert_eq!(h.check_stored(&bcrypt(14)), Ok(HashFormat::Bcrypt));
    assert_eq!(
        h.check_stored(&bcrypt(31)),
        over(HashFormat::Bcrypt, CostKind::Time)
    );
    assert_eq!(
        h.check_stored(&format!("bcrypt_sha256${}", bcrypt(31))),
        over(HashFormat::DjangoBcryptSha256, CostKind::Time)
    );
    assert_eq!(
        h.check_stored(&format!("bcrypt${}", bcrypt(15))),
        over(HashFormat::DjangoBcrypt, CostKind::Time)
    );
    // Django argon2: the same ceilings as PHC Argon2.
    let salt_hash = "c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    assert_eq!(
        h.check_stored(&format!("argon2$argon2i$v=19$m=512,t=2,p=2${salt_hash}")),
        Ok(HashFormat::DjangoArgon2)
    );
    assert_eq!(
        h.check_stored(&format!("argon2$argon2i$m=4294967295,t=2,p=2${salt_hash}")),
        over(HashFormat::DjangoArgon2, CostKind::Memory)
    );
    assert_eq!(
        h.check_stored(&format!("argon2$argon2d$v=19$m=65536,t=64,p=4${salt_hash}")),
        over(HashFormat::DjangoArgon2, CostKind::Work)
    );
    Ok(())
}

/// An over-budget hash of each new format is answered after one dummy verification (the
/// timing of a wrong password) and no real one: the work counters show it.
#[tokio::test]
async fn an_over_budget_stored_hash_of_each_format_costs_a_dummy_verification_only() -> TestResult {
    let hasher = AsyncHasher::new(&{
        let mut c = cheap_config();
        c.allow_insecure_legacy_hashes = true;
        c
    })?;
    let absurd = [
        django_scrypt("4294967296", "8", "1"),
        phc_scrypt("ln=40,r=8,p=1"),
        "pbkdf2_sha1$4294967295$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        "$pbkdf2$4294967295$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("$pbkdf2-sha512$4000000000$c2FsdHNhbHQ${}", "A".repeat(86)),
        "$pbkdf2-sha256$i=4000000000,l=32$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .to_owned(),
        "$2y$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".to_owned(),
        "argon2$argon2i$m=4294967295,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
            .to_owned(),
    ];
    for (i, stored) in absurd.iter().enumerate() {
        assert!(
            matches!(
                hasher.password_hasher().check_stored(stored),
                Err(StoredHashError::OverBudget { .. })
            ),
            "{stored}"
        );
        let v = hasher
            .verify(SecretString::from("pw"), stored.clone())
            .await?;
        assert!(!v.valid, "{stored}");
        let n = u64::try_from(i)? + 1;
        assert_eq!(hasher.dummy_verifications(), n, "{stored}: not a dummy");
        assert_eq!(hasher.verifications(), n, "{stored}: real work was done");
    }
    Ok(())
}

/// Malformed strings of each format: a typed error naming the format and the part, no panic,
/// and no verification.
#[test]
fn malformed_strings_of_each_format_give_a_typed_error() -> TestResult {
    let mut c = cheap_config();
    c.allow_insecure_legacy_hashes = true;
    let h = PasswordHasher::from_config(&c)?;
    let hash64 = "A".repeat(86);
    let b43 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    use HashFormat as F;
    use HashPart as P;
    let cases: Vec<(String, F, P)> = vec![
        // Django scrypt: n not a power of two, negative, overflowing; r / p zero or signed;
        // the hash of the wrong length; a missing or extra field.
        (
            format!("scrypt$1000$salt$8$1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (
            format!("scrypt$-16$salt$8$1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (
            format!("scrypt$1$salt$8$1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (
            format!("scrypt$99999999999999999999999$salt$8$1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (
            format!("scrypt$16$salt$0$1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (
            format!("scrypt$16$salt$8$+1${hash64}"),
            F::DjangoScrypt,
            P::Parameters,
        ),
        (format!("scrypt$16$$8$1${hash64}"), F::DjangoScrypt, P::Salt),
        (
            format!("scrypt$16$salt$8$1${b43}"),
            F::DjangoScrypt,
            P::Hash,
        ),
        (
            format!("scrypt$16$salt$8$1${hash64}$x"),
            F::DjangoScrypt,
            P::Layout,
        ),
        (
            "scrypt$16$salt$8".to_owned(),
            F::DjangoScrypt,
            P::Parameters,
        ),
        // PHC scrypt.
        (phc_scrypt("ln=16,r=8"), F::Scrypt, P::Parameters),
        (phc_scrypt("ln=16,r=8,p=1,p=1"), F::Scrypt, P::Parameters),
        (phc_scrypt("ln=16,r=8,p=1,x=2"), F::Scrypt, P::Parameters),
        (phc_scrypt("ln=-1,r=8,p=1"), F::Scrypt, P::Parameters),
        (phc_scrypt("ln=0,r=8,p=1"), F::Scrypt, P::Parameters),
        (phc_scrypt("ln=16,r=0,p=1"), F::Scrypt, P::Parameters),
        (
            format!("$scrypt$ln=4,r=8,p=1$$c2FsdA${b43}"),
            F::Scrypt,
            P::Salt,
        ),
        (
            "$scrypt$ln=4,r=8,p=1$c2FsdA$AAAA".to_owned(),
            F::Scrypt,
            P::Hash,
        ),
        (
            format!("$scrypt$ln=4,r=8,p=1$c2FsdA$é{b43}"),
            F::Scrypt,
            P::Hash,
        ),
        // PBKDF2 in its five layouts.
        (
            "pbkdf2_sha1$0$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
            F::DjangoPbkdf2Sha1,
            P::Parameters,
        ),
        (
            "pbkdf2_sha1$1000$$AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
            F::DjangoPbkdf2Sha1,
            P::Salt,
        ),
        (
            format!("pbkdf2_sha1$1000$salt${b43}="),
            F::DjangoPbkdf2Sha1,
            P::Hash,
        ),
        (
            "$pbkdf2-sha256$1000$c2FsdA$AAAA".to_owned(),
            F::PasslibPbkdf2Sha256,
            P::Hash,
        ),
        (
            "$pbkdf2-sha256$1000$c2F+sdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            F::PasslibPbkdf2Sha256,
            P::Salt,
        ),
        (
            "$pbkdf2$-5$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            F::PasslibPbkdf2Sha1,
            P::Parameters,
        ),
        (
            "$pbkdf2$1000$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAA$".to_owned(),
            F::PasslibPbkdf2Sha1,
            P::Layout,
        ),
        (
            format!("$pbkdf2-sha512$1e3$c2FsdA${hash64}"),
            F::PasslibPbkdf2Sha512,
            P::Parameters,
        ),
        (
            format!("$pbkdf2-sha256$i=1000,l=31$c2FsdA${b43}"),
            F::PhcPbkdf2Sha256,
            P::Hash,
        ),
        (
            format!("$pbkdf2-sha256$i=1000,i=2$c2FsdA${b43}"),
            F::PhcPbkdf2Sha256,
            P::Parameters,
        ),
        (
            format!("$pbkdf2-sha256$l=32$c2FsdA${b43}"),
            F::PhcPbkdf2Sha256,
            P::Parameters,
        ),
        (
            format!("$pbkdf2-sha512$i=0,l=32$c2FsdA${b43}"),
            F::PhcPbkdf2Sha512,
            P::Parameters,
        ),
        // Django argon2, including the old parameter sets broken.
        ("argon2$bcrypt$x".to_owned(), F::DjangoArgon2, P::Layout),
        (
            "argon2$argon2x$v=19$m=512,t=2,p=2$c2FsdHNhbHQ$AAAA".to_owned(),
            F::DjangoArgon2,
            P::Layout,
        ),
        (
            "argon2$argon2i$v=18$m=512,t=2,p=2$c2FsdHNhbHQ$AAAA".to_owned(),
            F::DjangoArgon2,
            P::Parameters,
        ),
        (
            "argon2$argon2i$m=512,t=-2,p=2$c2FsdHNhbHQ$AAAA".to_owned(),
            F::DjangoArgon2,
            P::Parameters,
        ),
        (
            "argon2$argon2i$m=512,t=2,p=2$c2FsdHNhbHQ$A".to_owned(),
            F::DjangoArgon2,
            P::Hash,
        ),
        (
            "argon2$argon2i$m=512,t=2,p=2$c2FsdHNhbHQ$AAAA".to_owned(),
            F::DjangoArgon2,
            P::Hash,
        ),
        (
            "argon2$argon2i$m=512,t=2,p=2$c2Fs$AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            F::DjangoArgon2,
            P::Salt,
        ),
        (
            "argon2$argon2i$m=0,t=2,p=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            F::DjangoArgon2,
            P::Parameters,
        ),
        // bcrypt from PHP / Devise and in Django's wrappers.
        ("$2y$10$short".to_owned(), F::Bcrypt, P::Layout),
        (
            "$2q$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".to_owned(),
            F::Bcrypt,
            P::Layout,
        ),
        (
            "$2y$1x$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".to_owned(),
            F::Bcrypt,
            P::Parameters,
        ),
        (
            "$2y$03$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234".to_owned(),
            F::Bcrypt,
            P::Parameters,
        ),
        (
            "$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz0123!".to_owned(),
            F::Bcrypt,
            P::Hash,
        ),
        (
            "bcrypt_sha256$$2b$12$".to_owned(),
            F::DjangoBcryptSha256,
            P::Layout,
        ),
        ("bcrypt$".to_owned(), F::DjangoBcrypt, P::Layout),
        // The digests (with the opt-in on).
        (
            "sha1$salt$ABF7AAD6438836DBE526AA231ABDE2D0EEF74D42".to_owned(),
            F::DjangoSha1,
            P::Hash,
        ),
        ("sha1$salt$abf7".to_owned(), F::DjangoSha1, P::Hash),
        ("sha1$nodollar".to_owned(), F::DjangoSha1, P::Layout),
        (
            "md5$salt$9cc2ae8a1ba7a93da39b46fc1019c48".to_owned(),
            F::DjangoMd5,
            P::Hash,
        ),
        (
            "md5$$9cc2ae8a1ba7a93da39b46fc1019c48g".to_owned(),
            F::DjangoUnsaltedMd5,
            P::Hash,
        ),
        (
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".to_owned(),
            F::DjangoUnsaltedMd5,
            P::Hash,
        ),
        (
            "sha1$$abf7aad6438836dbe526aa231abde2d0eef74d4g".to_owned(),
            F::DjangoUnsaltedSha1,
            P::Hash,
        ),
    ];
    for (stored, format, part) in &cases {
        assert_eq!(
            h.check_stored(stored),
            malformed(*format, *part),
            "{stored}"
        );
        let refused = h.try_verify("pw", stored);
        assert!(
            matches!(
                refused,
                Err(Error::StoredHash(StoredHashError::Malformed { .. }))
            ),
            "{stored}: {refused:?}"
        );
        assert!(!h.verify("pw", stored).valid);
    }
    // And the reasons read as messages that never quote the stored string.
    let e = StoredHashError::Malformed {
        format: F::DjangoScrypt,
        part: P::Parameters,
    };
    assert_eq!(
        e.to_string(),
        "the stored django_scrypt hash is malformed: bad parameters"
    );
    let e = StoredHashError::OverBudget {
        format: F::Scrypt,
        cost: CostKind::Memory,
    };
    assert_eq!(
        e.to_string(),
        "the stored scrypt hash asks for more memory than the stored-cost budget allows"
    );
    let core = testudo_core::Error::from(Error::StoredHash(e));
    assert!(
        matches!(
            core,
            testudo_core::Error::Authentication(
                testudo_core::AuthenticationError::InvalidCredentials
            )
        ),
        "{core:?}"
    );
    Ok(())
}

#[test]
fn unusable_and_unknown_stored_strings_give_their_own_typed_errors() -> TestResult {
    let h = PasswordHasher::from_config(&cheap_config())?;
    for stored in ["", "!", "!abcdef"] {
        assert_eq!(h.check_stored(stored), Err(StoredHashError::Unusable));
    }
    for stored in [
        "plain",
        "$argon3$x",
        "pbkdf2_sha384$1$a$b",
        "$pbkdf2-sha1$1$a$b",
        "ü",
    ] {
        assert_eq!(
            h.check_stored(stored),
            Err(StoredHashError::UnknownFormat),
            "{stored}"
        );
    }
    let long = PasswordHasher::from_config(&{
        let mut c = cheap_config();
        c.max_password_length = 4;
        c
    })?;
    assert!(matches!(
        long.try_verify(
            "12345",
            "$2y$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        ),
        Err(Error::InvalidPassword(_))
    ));
    Ok(())
}

/// A format testudo does not know, registered by the application: `rot13$<text>` (a
/// stand-in; real ones hash), with a cost field to show the check runs before `verify`.
#[derive(Debug)]
struct Rot13;

impl Rot13 {
    fn encode(password: &str) -> String {
        let rotated: Vec<u8> = password
            .bytes()
            .map(|b| match b {
                b'a'..=b'm' | b'A'..=b'M' => b + 13,
                b'n'..=b'z' | b'N'..=b'Z' => b - 13,
                _ => b,
            })
            .collect();
        String::from_utf8_lossy(&rotated).into_owned()
    }
}

impl PasswordFormat for Rot13 {
    fn name(&self) -> &'static str {
        "rot13"
    }

    fn identify(&self, stored: &str) -> bool {
        stored.starts_with("rot13$")
    }

    fn check(&self, stored: &str, budget: &CostBudget) -> Result<(), StoredHashError> {
        let format = HashFormat::Custom("rot13");
        let mut parts = stored.splitn(3, '$').skip(1);
        let rounds: u32 =
            parts
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or(StoredHashError::Malformed {
                    format,
                    part: HashPart::Parameters,
                })?;
        if rounds > budget.pbkdf2_max_iterations() {
            return Err(StoredHashError::OverBudget {
                format,
                cost: CostKind::Iterations,
            });
        }
        Ok(())
    }

    fn verify(&self, password: &[u8], stored: &str) -> bool {
        let Ok(password) = std::str::from_utf8(password) else {
            return false;
        };
        stored.splitn(3, '$').nth(2) == Some(Self::encode(password).as_str())
    }
}

#[tokio::test]
async fn a_registered_format_is_verified_upgraded_and_cost_checked() -> TestResult {
    let base = PasswordHasher::from_config(&cheap_config())?;
    let stored = format!("rot13$1${}", Rot13::encode("Hello World"));
    assert_eq!(
        base.check_stored(&stored),
        Err(StoredHashError::UnknownFormat)
    );
    let h = base.with_format(Rot13);
    assert_eq!(h.check_stored(&stored), Ok(HashFormat::Custom("rot13")));
    let v = h.try_verify("Hello World", &stored)?;
    assert!(v.valid);
    let upgraded = v.upgraded.ok_or("no upgrade")?;
    assert!(upgraded.starts_with("$argon2id$"));
    assert!(h.needs_rehash(&stored));
    assert!(!h.verify("Hello world", &stored).valid);
    assert_eq!(
        h.check_stored("rot13$9999999999$x"),
        Err(StoredHashError::Malformed {
            format: HashFormat::Custom("rot13"),
            part: HashPart::Parameters
        })
    );
    assert_eq!(
        h.check_stored("rot13$4000000000$x"),
        Err(StoredHashError::OverBudget {
            format: HashFormat::Custom("rot13"),
            cost: CostKind::Iterations
        })
    );
    // Built-in formats still verify beside it.
    let argon = h.hash("pw")?;
    assert!(h.verify("pw", &argon).valid);

    // Through the async hasher: a real verification, and a dummy one for an over-cost hash.
    let hasher = AsyncHasher::with_hasher(h, 1);
    let v = hasher
        .verify(SecretString::from("Hello World"), stored)
        .await?;
    assert!(v.valid && v.upgraded.is_some());
    assert_eq!(hasher.dummy_verifications(), 0);
    let v = hasher
        .verify(SecretString::from("x"), "rot13$4000000000$k".to_owned())
        .await?;
    assert!(!v.valid);
    assert_eq!(hasher.dummy_verifications(), 1);
    Ok(())
}

/// The PHC writers of the `pbkdf2` and `scrypt` crates themselves (dev-dependencies with their
/// `phc` feature) write strings testudo reads, with SHA-256 and SHA-512 and several lengths.
#[test]
fn hashes_written_by_the_rustcrypto_phc_writers_verify_and_are_upgraded() -> TestResult {
    use pbkdf2::password_hash::CustomizedPasswordHasher as _;

    let h = PasswordHasher::from_config(&cheap_config())?;
    let salt = b"a salt of 16 b.!";
    let mut written = Vec::new();
    for (algorithm, len) in [
        (pbkdf2::Algorithm::Pbkdf2Sha256, 32),
        (pbkdf2::Algorithm::Pbkdf2Sha256, 40),
        (pbkdf2::Algorithm::Pbkdf2Sha512, 64),
        (pbkdf2::Algorithm::Pbkdf2Sha512, 20),
    ] {
        let params = pbkdf2::Params::new_with_output_len(1000, len)?;
        let stored = pbkdf2::Pbkdf2::new(algorithm, params)
            .hash_password_customized(b"rust crypto", salt, None, None, params)?
            .to_string();
        written.push(stored);
    }
    let params = scrypt::Params::new_with_output_len(4, 8, 2, 32)?;
    let stored = scrypt::Scrypt::new_with_params(params)
        .hash_password_customized(b"rust crypto", salt, None, None, params)?
        .to_string();
    written.push(stored);

    let formats: Vec<Option<HashFormat>> = written.iter().map(|s| identify(s)).collect();
    assert_eq!(
        formats,
        [
            Some(HashFormat::PhcPbkdf2Sha256),
            Some(HashFormat::PhcPbkdf2Sha256),
            Some(HashFormat::PhcPbkdf2Sha512),
            Some(HashFormat::PhcPbkdf2Sha512),
            Some(HashFormat::Scrypt),
        ],
        "{written:?}"
    );
    for stored in &written {
        let v = h.try_verify("rust crypto", stored)?;
        assert!(v.valid && v.upgraded.is_some(), "{stored}");
        assert!(!h.verify("rust crypto!", stored).valid, "{stored}");
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Mutated strings of every new format (the opt-in on, a pepper set, so every path is
    /// reachable) never panic, and a refusal is always a typed error.
    #[test]
    fn mutated_legacy_strings_never_panic(
        password in ".{0,20}",
        prefix in proptest::sample::select(vec![
            "scrypt$16$", "scrypt$16$salt$8$", "$scrypt$ln=4,r=8,p=1$", "$scrypt$",
            "pbkdf2_sha1$1000$", "$pbkdf2$1000$", "$pbkdf2-sha256$1000$", "$pbkdf2-sha512$",
            "$pbkdf2-sha256$i=1000,l=", "$pbkdf2-sha512$i=", "argon2$argon2i$m=8,t=1,p=1$",
            "argon2$argon2d$v=16$", "sha1$", "sha1$$", "md5$", "md5$$", "$2y$04$", "$2a$",
        ]),
        tail in "[A-Za-z0-9+/=$.,]{0,90}",
    ) {
        let mut c = cheap_config();
        c.allow_insecure_legacy_hashes = true;
        c.bcrypt_pepper = Some(SecretString::from("pepper".to_owned()));
        let h = PasswordHasher::from_config(&c)
            .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
        let stored = format!("{prefix}{tail}");
        match h.try_verify(&password, &stored) {
            Ok(v) => proptest::prop_assert!(!v.valid || v.upgraded.is_some()),
            Err(Error::StoredHash(_)) => {
                proptest::prop_assert!(h.check_stored(&stored).is_err());
            }
            Err(other) => proptest::prop_assert!(false, "{other:?}"),
        }
    }
}
