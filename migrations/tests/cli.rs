//! The `testudo-migrate` command line (built with the `cli` feature) on a SQLite file.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output};

use testudo_test_support::TestResult;

fn migrate(url: &str, args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_testudo-migrate"))
        .arg("-u")
        .arg(url)
        .args(args)
        .output()?)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A database file path of this process, removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("testudo-migrate-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn up_status_down_on_a_new_sqlite_file() -> TestResult {
    let db = TempDb::new("cycle");
    let url = db.url();
    let up = migrate(&url, &["up"])?;
    assert!(up.status.success(), "{up:?}");
    assert!(db.0.exists());
    assert_eq!(stdout(&up).matches("has been applied").count(), 13);

    let status = migrate(&url, &["status"])?;
    assert!(status.status.success(), "{status:?}");
    assert_eq!(stdout(&status).matches("... Applied").count(), 13);

    let down = migrate(&url, &["down", "-n", "2"])?;
    assert!(down.status.success(), "{down:?}");
    let out = stdout(&down);
    assert_eq!(out.matches("has been rolled back").count(), 2);
    assert!(out.contains("m20261201_000013_create_api_keys"));

    let status = migrate(&url, &["status"])?;
    let out = stdout(&status);
    assert_eq!(out.matches("... Applied").count(), 11);
    assert_eq!(out.matches("... Pending").count(), 2);
    Ok(())
}

#[test]
fn a_bad_url_fails_with_a_non_zero_exit() -> TestResult {
    for url in [
        "redis://127.0.0.1/0",
        "sqlite:///no-such-directory-for-testudo/x.db?mode=rwc",
    ] {
        let out = migrate(url, &["status"])?;
        assert!(!out.status.success(), "{url}: {out:?}");
    }
    Ok(())
}
