//! The markdown the runs write: the summary of every bench, the comparison table, the goals'
//! marks, and the units.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::compare::Compared;
use crate::criterion::{Measured, rate};
use crate::targets::{Pair, Target, pair_for};

/// `1.23 µs`, `45.6 ms`...
fn format_duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `2.41 M/s`, `9.4 k/s`, `6.9 /s`.
fn format_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.1} /s")
    }
}

/// The median of a non-empty list (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])),
    }
}

/// `✓` / `✗` per target, `–` when a figure is missing.
fn target_cells(targets: &[Target], met: impl Fn(Target) -> Option<bool>) -> String {
    targets
        .iter()
        .map(|t| {
            let mark = match met(*t) {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "–",
            };
            format!("{} {mark}", t.describe())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The table of `target/bench-summary.md`: one row per criterion result, `(package, result)`.
pub(crate) fn summary_table(rows: &[(String, Measured)], quick: bool) -> String {
    let mut out = String::from("# testudo benchmarks\n\n");
    if quick {
        out.push_str(
            "Smoke run (`--quick`: short warm-up and measurement); figures are rough.\n\n",
        );
    }
    out.push_str(
        "`raw/...` rows are the raw crate loops (the same work written directly against the \
         underlying crates); \"vs raw\" is testudo's throughput over its raw twin's \
         (1.00: no library overhead). An `x16` iteration is 16 concurrent calls.\n\n",
    );
    out.push_str(
        "| crate | benchmark | median | throughput | iterations | vs raw | target |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for (package, m) in rows {
        let raw_id = format!("raw/{}", m.id);
        let raw = rows
            .iter()
            .find(|(p, r)| p == package && r.id == raw_id)
            .map(|(_, r)| r);
        let vs_raw = raw.map_or_else(String::new, |r| {
            if m.median_ns > 0.0 {
                format!("{:.2}", r.median_ns / m.median_ns)
            } else {
                "–".to_owned()
            }
        });
        let target = pair_for(package, &m.id).map_or_else(String::new, |pair| {
            let raw_targets: Vec<Target> = pair
                .targets
                .iter()
                .copied()
                .filter(|t| t.is_raw())
                .collect();
            target_cells(&raw_targets, |t| {
                t.met(Some(m.median_ns), raw.map(|r| r.median_ns), None)
            })
        });
        let _ = writeln!(
            out,
            "| {package} | {} | {} | {} | {} | {vs_raw} | {target} |",
            m.id.replace('|', "\\|"),
            format_duration(m.median_ns),
            format_rate(rate(m)),
            m.iterations,
        );
    }
    out
}

/// `missing(package, bench)` says why a testudo figure is absent.
pub(crate) fn compare_table(
    pairs: &[&Pair],
    got: &Compared,
    missing: &dyn Fn(&str, &str) -> &'static str,
    rounds: usize,
    quick: bool,
) -> String {
    let mut out = String::from("# testudo vs tortoise-auth 0.6.0\n\n");
    let _ = writeln!(
        out,
        "Median time per call (median of {rounds} interleaved round(s){}). \
         \"raw\": the same work written directly against the underlying crates (no library). \
         tortoise-auth / testudo above 1: testudo is faster. testudo / raw: testudo's throughput \
         over the raw loop's (1.00: no library overhead). x16 rows: 16 concurrent callers, time \
         per call = time of the 16 / 16.\n",
        if quick { ", `--quick` smoke run" } else { "" }
    );
    out.push_str(
        "| operation | testudo | raw crate | tortoise-auth | tortoise-auth / testudo | \
         testudo / raw | target |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for pair in pairs {
        let rust_median = got.rust.get(pair.label).and_then(|v| median(v));
        let raw_median = got.raw.get(pair.label).and_then(|v| median(v));
        let py_median = got.python.get(pair.python).and_then(|v| median(v));
        let rust_cell = match (pair.rust, rust_median, pair.bench) {
            (Err(reason), _, _) => reason.to_owned(),
            (Ok(_), Some(ns), _) => format_duration(ns),
            (Ok(_), None, Some((package, bench))) => missing(package, bench).to_owned(),
            (Ok(_), None, None) => "n/a".to_owned(),
        };
        let raw_cell = match (pair.raw, raw_median, pair.bench) {
            (None, _, _) => "–".to_owned(),
            (Some(_), Some(ns), _) => format_duration(ns),
            (Some(_), None, Some((package, bench))) => missing(package, bench).to_owned(),
            (Some(_), None, None) => "n/a".to_owned(),
        };
        let py_cell = py_median.map_or_else(|| "n/a (driver failed)".to_owned(), format_duration);
        let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
            _ => "–".to_owned(),
        };
        let vs_python = match ratio(py_median, rust_median) {
            dash if dash == "–" => dash,
            r => format!("{r}x"),
        };
        let vs_raw = if pair.raw.is_some() {
            ratio(raw_median, rust_median)
        } else {
            "–".to_owned()
        };
        let target = target_cells(pair.targets, |t| t.met(rust_median, raw_median, py_median));
        let _ = writeln!(
            out,
            "| {} | {rust_cell} | {raw_cell} | {py_cell} | {vs_python} | {vs_raw} | {target} |",
            pair.label
        );
    }
    out
}

/// Writes `text` to `path` and to stdout.
pub(crate) fn publish(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    writeln!(out, "\n(written to {})", path.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::PAIRS;

    #[test]
    fn medians_and_units() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(format_duration(950.0), "950.0 ns");
        assert_eq!(format_duration(1_500.0), "1.50 µs");
        assert_eq!(format_duration(150_000_000.0), "150.00 ms");
        assert_eq!(format_rate(2_410_000.0), "2.41 M/s");
        assert_eq!(format_rate(9_400.0), "9.4 k/s");
    }

    #[test]
    fn summary_shows_the_library_overhead_against_the_raw_twin() {
        let m = |id: &str, median_ns: f64| Measured {
            id: id.into(),
            median_ns,
            elements: None,
            iterations: 1.0,
        };
        let rows = vec![
            ("testudo-signing".to_owned(), m("raw/sign", 400.0)),
            ("testudo-signing".to_owned(), m("sign", 500.0)),
            ("testudo-signing".to_owned(), m("unsign", 600.0)),
            (
                "testudo-hashers".to_owned(),
                m("hashers/bcrypt_12_verify", 2.0e8),
            ),
            (
                "testudo-hashers".to_owned(),
                m("raw/hashers/bcrypt_12_verify", 1.5e8),
            ),
        ];
        let table = summary_table(&rows, false);
        assert!(table.contains(
            "| testudo-signing | sign | 500.0 ns | 2.00 M/s | 1 | 0.80 | ≥ 0.80 of raw ✓ |"
        ));
        assert!(table.contains("| testudo-signing | raw/sign | 400.0 ns | 2.50 M/s | 1 |  |  |"));
        // No twin measured: the target cannot be judged.
        assert!(table.contains(
            "| testudo-signing | unsign | 600.0 ns | 1.67 M/s | 1 |  | ≥ 0.80 of raw – |"
        ));
        assert!(table.contains(
            "| hashers/bcrypt_12_verify | 200.00 ms | 5.0 /s | 1 | 0.75 | ≤ 1.1x raw time ✗ |"
        ));
    }

    #[test]
    fn comparison_table_reports_missing_sides_honestly() {
        let mut got = Compared::default();
        got.rust.insert("Signer.sign", vec![100.0, 300.0, 200.0]);
        got.raw.insert("Signer.sign", vec![180.0]);
        got.python.insert("signing.sign", vec![2000.0]);
        got.python.insert("service.authenticate", vec![1e6]);
        got.python.insert("hash.bcrypt12_hash", vec![3e8]);
        got.raw.insert("bcrypt hash (cost 12)", vec![2.9e8]);
        let all: Vec<&Pair> = PAIRS.iter().collect();
        let table = compare_table(&all, &got, &|_, _| "n/a (not built yet)", 3, false);
        assert!(table.contains(
            "| Signer.sign | 200.0 ns | 180.0 ns | 2.00 µs | 10.00x | 0.90 | \
             ≥ 0.80 of raw ✓; ≥ 9x tortoise-auth ✓ |"
        ));
        assert!(table.contains(
            "| AuthService.authenticate (100k rows, SQLite file) | n/a (not built yet) | – | \
             1.00 ms | – | – |  |"
        ));
        assert!(table.contains(
            "| bcrypt hash (cost 12) | n/a (testudo never writes bcrypt) | 290.00 ms | \
             300.00 ms | – | – |  |"
        ));
        assert!(table.contains(
            "| Signer.unsign | n/a (not built yet) | n/a (not built yet) | n/a (driver failed) \
             | – | – | ≥ 0.80 of raw –; ≥ 9x tortoise-auth – |"
        ));
    }
}
