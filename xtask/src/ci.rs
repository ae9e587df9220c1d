//! `cargo xtask test` and `cargo xtask ci`.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// Backends whose tests need a server, and the variable that enables them.
const DATABASES: &[(&str, &str)] = &[
    ("PostgreSQL", "TESTUDO_TEST_POSTGRES_URL"),
    ("MariaDB/MySQL", "TESTUDO_TEST_MYSQL_URL"),
];

/// Feature sets of the facade that must each build on their own without a warning.
const FACADE_FEATURES: &[&str] = &[
    "", "db", "sqlite", "postgres", "mysql", "jwt", "redis", "blocking", "axum",
];

pub(crate) fn test(sh: &Shell, no_doc: bool) -> Result<()> {
    let skipped: Vec<&str> = DATABASES
        .iter()
        .filter(|(_, var)| std::env::var_os(var).is_none_or(|v| v.is_empty()))
        .map(|(name, var)| if name.is_empty() { *var } else { *name })
        .collect();
    if skipped.is_empty() {
        eprintln!("xtask test: running SQLite, PostgreSQL and MariaDB/MySQL tests");
    } else {
        eprintln!(
            "xtask test: skipped backends: {} (set {} to run them); SQLite always runs",
            skipped.join(", "),
            DATABASES
                .iter()
                .map(|(_, var)| *var)
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    let nextest = cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if nextest {
        cmd!(
            sh,
            "cargo nextest run --workspace --all-features --locked --no-fail-fast"
        )
        .run()
        .context("tests failed")?;
    } else {
        cmd!(
            sh,
            "cargo test --workspace --all-features --locked --no-fail-fast --lib --bins --tests"
        )
        .run()
        .context("tests failed")?;
    }
    if !no_doc {
        cmd!(sh, "cargo test --workspace --all-features --locked --doc")
            .run()
            .context("doctests failed")?;
    }
    Ok(())
}

pub(crate) fn ci(sh: &Shell, no_test: bool) -> Result<()> {
    cmd!(sh, "cargo fmt --all -- --check")
        .run()
        .context("cargo fmt --check: run `cargo fmt --all`")?;
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --all-features --locked -- -D warnings"
    )
    .run()
    .context("clippy")?;
    // Clippy, not `cargo check`: a warning only some feature set shows (an unused import, dead
    // code) fails here too.
    for features in FACADE_FEATURES {
        let features = (!features.is_empty()).then_some(["--features", features]);
        let features = features.into_iter().flatten();
        cmd!(
            sh,
            "cargo clippy -p testudo --no-default-features {features...} --locked -- -D warnings"
        )
        .run()
        .context("a facade feature set builds with warnings")?;
    }
    if !no_test {
        test(sh, false)?;
    }
    let _docflags = sh.push_env("RUSTDOCFLAGS", "-D warnings");
    cmd!(
        sh,
        "cargo doc --workspace --all-features --no-deps --locked"
    )
    .run()
    .context("cargo doc with -D warnings")?;
    Ok(())
}
