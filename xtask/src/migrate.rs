//! `cargo xtask migrate`: runs the `testudo-migrate` command line of `testudo-migrations`, so
//! xtask itself links no database driver.

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

use crate::flags::Migrate;

/// Runs the migration command, its output echoed to stderr.
///
/// # Errors
///
/// For an unknown action or database scheme, a step count without `down`, or when the
/// migrations CLI fails (the error carries the last error line it printed).
pub(crate) fn run(sh: &Shell, flags: &Migrate) -> Result<()> {
    let url = database_url(&flags.database_url)?;
    let mut args: Vec<String> = vec!["-u".into(), url];
    match flags.action.as_str() {
        "up" | "status" | "fresh" => args.push(flags.action.clone()),
        "down" => {
            args.push("down".into());
            args.push("-n".into());
            args.push(flags.steps.unwrap_or(1).to_string());
        }
        other => bail!("unknown action {other:?}: expected up, down [N], status or fresh"),
    }
    if flags.steps.is_some() && flags.action != "down" {
        bail!("a step count goes with `down` only");
    }
    let output = cmd!(
        sh,
        "cargo run --quiet --locked -p testudo-migrations --features cli --bin testudo-migrate -- {args...}"
    )
    .ignore_status()
    .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprint!("{stdout}");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .rev()
            .find(|l| l.contains("rror") || l.contains("panicked") || l.contains("Fail"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("failed")
            .trim();
        bail!("migrate {}: {reason}", flags.action);
    }
    Ok(())
}

/// Checks the scheme, and lets SQLite create a missing database file.
fn database_url(url: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        bail!("invalid database URL: expected sqlite://, postgres:// or mysql://");
    };
    match scheme {
        "sqlite" if !rest.contains("mode=") && !rest.contains(":memory:") => {
            let sep = if rest.contains('?') { '&' } else { '?' };
            Ok(format!("{url}{sep}mode=rwc"))
        }
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => Ok(url.to_owned()),
        other => bail!("unsupported database scheme {other:?}: expected sqlite, postgres or mysql"),
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn sqlite_files_are_created_when_missing() {
        assert_eq!(
            database_url("sqlite://auth.db").ok().as_deref(),
            Some("sqlite://auth.db?mode=rwc")
        );
        assert_eq!(
            database_url("sqlite://auth.db?mode=ro").ok().as_deref(),
            Some("sqlite://auth.db?mode=ro")
        );
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(database_url("redis://127.0.0.1").is_err());
        assert!(database_url("no-scheme").is_err());
        assert!(database_url("postgres://postgres@127.0.0.1/test").is_ok());
    }
}
