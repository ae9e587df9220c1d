//! Criterion's results read back from disk (`new/benchmark.json`, `estimates.json`,
//! `sample.json`), what a measurement means per call, and criterion's id filter.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::Value;

/// Criterion iterations that are several calls: the x16 benches time 16 concurrent calls per
/// iteration without declaring a `Throughput` (criterion only attaches one inside a group).
fn calls_per_iteration(id: &str) -> Option<f64> {
    id.contains(" x16 ").then_some(16.0)
}

/// A criterion result read back from disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    /// Criterion's full id (`group/function/value`).
    pub(crate) id: String,
    /// Median time per iteration, in nanoseconds.
    pub(crate) median_ns: f64,
    /// Elements per iteration when the bench declared a `Throughput::Elements`.
    pub(crate) elements: Option<f64>,
    /// Iterations criterion ran in the measurement phase.
    pub(crate) iterations: f64,
}

/// Every `new/benchmark.json` under `dir` (criterion's output) written at or after `since`.
pub(crate) fn read_criterion_dir(dir: &Path, since: Option<SystemTime>) -> Result<Vec<Measured>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let benchmark = path.join("benchmark.json");
            if path.file_name().is_some_and(|n| n == "new") && benchmark.is_file() {
                let fresh = match since {
                    None => true,
                    Some(since) => std::fs::metadata(&benchmark)
                        .and_then(|m| m.modified())
                        .is_ok_and(|modified| modified >= since),
                };
                if fresh {
                    found.push(read_measurement(&path)?);
                }
            } else {
                stack.push(path);
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// One criterion `new/` directory: `benchmark.json`, `estimates.json`, `sample.json`.
fn read_measurement(new_dir: &Path) -> Result<Measured> {
    let read = |file: &str| -> Result<Value> {
        let path = new_dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    };
    let benchmark = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let iterations = read("sample.json")
        .ok()
        .and_then(|s| {
            s["iters"]
                .as_array()
                .map(|i| i.iter().filter_map(Value::as_f64).sum())
        })
        .unwrap_or(0.0);
    parse_measurement(&benchmark, &estimates, iterations)
        .with_context(|| format!("criterion files in {}", new_dir.display()))
}

/// A measurement from the parsed `benchmark.json` and `estimates.json`.
fn parse_measurement(benchmark: &Value, estimates: &Value, iterations: f64) -> Result<Measured> {
    let id = benchmark["full_id"]
        .as_str()
        .context("benchmark.json: no full_id")?;
    let median_ns = estimates["median"]["point_estimate"]
        .as_f64()
        .context("estimates.json: no median point estimate")?;
    let elements = benchmark["throughput"]["Elements"].as_f64();
    Ok(Measured {
        id: id.to_owned(),
        median_ns,
        elements,
        iterations,
    })
}

/// Operations per second for one iteration of `median_ns` doing `elements` operations.
fn ops_per_second(median_ns: f64, elements: Option<f64>) -> f64 {
    if median_ns <= 0.0 {
        return 0.0;
    }
    elements.unwrap_or(1.0) * 1e9 / median_ns
}

/// The operations per second of a measurement (x16 iterations count 16 calls).
pub(crate) fn rate(m: &Measured) -> f64 {
    ops_per_second(
        m.median_ns,
        m.elements.or_else(|| calls_per_iteration(&m.id)),
    )
}

/// Time per call of a criterion measurement.
pub(crate) fn per_call_ns(m: &Measured) -> f64 {
    m.median_ns / calls_per_iteration(&m.id).unwrap_or(1.0)
}

/// A regex matching exactly one of `ids` (criterion's filter is a regex on the full id).
pub(crate) fn exact_filter(ids: &[&str]) -> String {
    let escaped: Vec<String> = ids
        .iter()
        .map(|id| {
            id.chars()
                .map(|c| {
                    if "\\.+*?()|[]{}^$#&-~".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_files_give_median_and_throughput() {
        let benchmark =
            serde_json::json!({"full_id": "hashers/argon2", "throughput": {"Elements": 10}});
        let estimates = serde_json::json!({"median": {"point_estimate": 2000.0}});
        let m = parse_measurement(&benchmark, &estimates, 55.0).expect("complete files");
        assert_eq!(m.id, "hashers/argon2");
        assert!((ops_per_second(m.median_ns, m.elements) - 5_000_000.0).abs() < 1e-6);
        assert!(parse_measurement(&serde_json::json!({}), &estimates, 0.0).is_err());
    }

    #[test]
    fn criterion_results_are_read_from_disk() {
        let dir = std::env::temp_dir().join(format!("testudo-bench-test-{}", std::process::id()));
        let new = dir.join("group").join("op").join("new");
        std::fs::create_dir_all(&new).expect("temp dir");
        std::fs::write(new.join("benchmark.json"), r#"{"full_id": "group/op"}"#).expect("write");
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median": {"point_estimate": 12.5}}"#,
        )
        .expect("write");
        std::fs::write(
            new.join("sample.json"),
            r#"{"iters": [1.0, 2.0], "times": [1.0, 2.0]}"#,
        )
        .expect("write");
        let found = read_criterion_dir(&dir, None).expect("readable");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            found,
            vec![Measured {
                id: "group/op".into(),
                median_ns: 12.5,
                elements: None,
                iterations: 3.0
            }]
        );
    }

    #[test]
    fn filters_match_ids_literally() {
        assert_eq!(
            exact_filter(&["verify_token (100k rows, sqlite file)", "a/b"]),
            r"^(verify_token \(100k rows, sqlite file\)|a/b)$"
        );
    }

    #[test]
    fn x16_iterations_count_sixteen_calls() {
        let m = Measured {
            id: "authenticate x16 cached (100k rows, sqlite file)".into(),
            median_ns: 1_600_000.0,
            elements: None,
            iterations: 10.0,
        };
        assert!((per_call_ns(&m) - 100_000.0).abs() < 1e-6);
        assert!((rate(&m) - 10_000.0).abs() < 1e-6);
        assert_eq!(
            calls_per_iteration("authenticate (100k rows, sqlite file)"),
            None
        );
    }
}
