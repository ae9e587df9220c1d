//! The Python side of the comparison: the virtual environment holding tortoise-auth, and the
//! JSON lines `bench/compare.py` prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// The virtual environment's Python, created and filled from `bench/requirements.txt` unless
/// it already holds exactly those pins.
pub(crate) fn python_env(sh: &Shell, target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("bench-venv");
    let python = venv.join("bin").join("python");
    let requirements = sh.current_dir().join("bench").join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("{}", requirements.display()))?;
    let marker = venv.join("testudo-requirements.txt");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted) && python.is_file() {
        return Ok(python);
    }
    let system_python = std::env::var("TESTUDO_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("testudo-bench --compare: creating {}", venv.display());
    cmd!(sh, "{system_python} -m venv --clear {venv}").run()?;
    cmd!(
        sh,
        "{python} -m pip install --disable-pip-version-check --quiet -r {requirements}"
    )
    .run()?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}

/// `(op, median_ns)` from the driver's JSON lines.
pub(crate) fn parse_driver_output(stdout: &str) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("driver output line {line:?}"))?;
        let (Some(op), Some(median_ns)) = (value["op"].as_str(), value["median_ns"].as_f64())
        else {
            bail!("driver output line without op / median_ns: {line}");
        };
        out.push((op.to_owned(), median_ns));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_lines_are_parsed_and_other_output_ignored() {
        let out = "seeding...\n{\"op\": \"signing.sign\", \"median_ns\": 4.5, \"iterations\": 9}\n";
        assert_eq!(
            parse_driver_output(out).expect("valid"),
            vec![("signing.sign".to_owned(), 4.5)]
        );
        assert!(parse_driver_output("{\"op\": 1}").is_err());
    }
}
