//! `testudo-fuzz-seeds VECTORS_JSON CORPUS_DIR`: writes a small seed corpus for each fuzz
//! target (`CORPUS_DIR/<target>/seed-<n>`) from the conformance vectors, in the input layout
//! each target documents, plus a few hand-written hostile seeds. Existing files are kept, so
//! libFuzzer's own additions survive; the seeds are regenerated, never committed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

type Seeds = BTreeMap<&'static str, Vec<Vec<u8>>>;

fn strings<'a>(v: &'a Value, section: &str, field: &str) -> Vec<&'a str> {
    v[section]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e[field].as_str()).collect())
        .unwrap_or_default()
}

fn push(seeds: &mut Seeds, target: &'static str, seed: impl Into<Vec<u8>>) {
    seeds.entry(target).or_default().push(seed.into());
}

/// `hash_verify`: one byte N, N bytes of password, the stored hash.
fn hash_seed(password: &str, stored: &str) -> Vec<u8> {
    let p = &password.as_bytes()[..password.len().min(255)];
    let mut out = vec![u8::try_from(p.len()).unwrap_or(u8::MAX)];
    out.extend_from_slice(p);
    out.extend_from_slice(stored.as_bytes());
    out
}

/// `signer_unsign`: settings byte (secret index, separator index), leeway byte, text.
fn signer_seed(secret: &str, separator: &str, text: &str) -> Option<Vec<u8>> {
    let s = ["signing-secret-1", "ts-secret", "signing-secret-2"]
        .iter()
        .position(|x| *x == secret)?;
    let sep = [":", ".", "|", "::"].iter().position(|x| *x == separator)?;
    let settings = u8::try_from(s | (sep << 2)).ok()?;
    let mut out = vec![settings, 0];
    out.extend_from_slice(text.as_bytes());
    Some(out)
}

fn seeds(v: &Value) -> Seeds {
    let mut seeds = Seeds::new();
    for h in v["password_hashes"].as_array().into_iter().flatten() {
        let stored = h["hash"].as_str().unwrap_or_default();
        let password = h["password"].as_str().unwrap_or_default();
        push(&mut seeds, "hash_verify", hash_seed(password, stored));
    }
    for u in v["unusable_passwords"]["is_password_usable"]
        .as_array()
        .into_iter()
        .flatten()
    {
        push(
            &mut seeds,
            "hash_verify",
            hash_seed("x", u["value"].as_str().unwrap_or_default()),
        );
    }
    for stored in [
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdHNhbHQ$aGFzaA",
        "$2b$04$abcdefghijklmnopqrstuuRkU8vBJkTQkvNq9NxJpG/Pbo/ZGa6ey",
        "$2b$99$abcdefghijklmnopqrstuuRkU8vBJkTQkvNq9NxJpG/Pbo/ZGa6ey",
        "pbkdf2_sha256$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "pbkdf2_sha256$-1$salt$aGFzaA==",
        "bcrypt_sha256$$2b$04$abcdefghijklmnopqrstuuRkU8vBJkTQkvNq9NxJpG/Pbo/ZGa6ey",
        "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2g",
    ] {
        push(&mut seeds, "hash_verify", hash_seed("password", stored));
    }

    for section in [
        "signer",
        "unsign_bad",
        "timestamp_signer",
        "timestamp_unsign_bad",
        "timestamp_parse_quirks",
    ] {
        for e in v[section].as_array().into_iter().flatten() {
            let (secret, sep) = (e["secret"].as_str(), e["separator"].as_str());
            if let (Some(secret), Some(sep), Some(signed)) = (secret, sep, e["signed"].as_str())
                && let Some(seed) = signer_seed(secret, sep, signed)
            {
                push(&mut seeds, "signer_unsign", seed);
            }
        }
    }

    for section in ["jwt", "jwt_crafted"] {
        for token in strings(v, section, "token") {
            push(&mut seeds, "jwt_verify_bytes", token);
        }
    }

    for raw in strings(v, "opaque_token_hash", "raw_token") {
        push(&mut seeds, "opaque_token", raw);
        push(
            &mut seeds,
            "email_token",
            format!("alice@example.com\n{raw}"),
        );
    }
    push(
        &mut seeds,
        "email_token",
        "ALICE@example.com \naaaaaaaaaaaaaaaa\n10.0.0.1\nlogin",
    );

    let mut env = String::new();
    let mut toml = String::new();
    if let Some(defaults) = v["config_defaults"].as_object() {
        for (k, value) in defaults {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(env, "TESTUDO_{}={text}", k.to_ascii_uppercase());
            let _ = writeln!(toml, "{k} = {value}");
        }
    }
    push(&mut seeds, "config_env", env);
    push(&mut seeds, "config_env", "#0=3\n#7=900\n#12=HS512\n");
    push(&mut seeds, "config_toml", toml);
    push(
        &mut seeds,
        "config_toml",
        "access_token_lifetime = 600\njwt_algorithm = \"HS512\"\ntoken_backend = \"database\"\n",
    );

    for e in v["validators"].as_array().into_iter().flatten() {
        let password = e["password"].as_str().unwrap_or_default();
        let seed = match e["user_email"].as_str() {
            Some(email) => format!("{password}\nemail={email}"),
            None => password.to_owned(),
        };
        push(&mut seeds, "validate_password", seed);
    }
    for e in v["similarity"].as_array().into_iter().flatten() {
        if let (Some(p), Some(a)) = (e["password"].as_str(), e["attribute_value"].as_str()) {
            push(&mut seeds, "validate_password", format!("{p}\nemail={a}"));
        }
    }
    seeds
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(vectors), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: testudo-fuzz-seeds VECTORS_JSON CORPUS_DIR".into());
    };
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&vectors)?)?;
    let mut total = 0;
    for (target, list) in seeds(&v) {
        let dir = Path::new(&out).join(target);
        std::fs::create_dir_all(&dir)?;
        for (n, seed) in list.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{n:03}")), seed)?;
        }
        total += list.len();
    }
    eprintln!("testudo-fuzz-seeds: wrote {total} seeds under {out}");
    Ok(())
}
