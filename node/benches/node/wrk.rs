//! Read load from `wrk` (Debian package `wrk`), and its report parsed.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// The figures of one `wrk --latency` run.
#[derive(Debug)]
pub struct Report {
    pub requests_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub requests: u64,
    /// Responses other than 2xx/3xx.
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub socket_errors: u64,
    pub transfer_per_sec: String,
}

/// Whether `wrk` is on `PATH`.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// `wrk -t{threads} -c{connections} -d{secs}s --latency [-H HEADER]… URL`.
pub fn run(
    url: &str,
    threads: u32,
    connections: u32,
    secs: u64,
    headers: &[String],
) -> anyhow::Result<Report> {
    run_script(url, threads, connections, secs, headers, None)
}

/// `run` with a Lua script (`-s`), e.g. one whose `request` walks through a mix of paths.
pub fn run_script(
    url: &str,
    threads: u32,
    connections: u32,
    secs: u64,
    headers: &[String],
    script: Option<&std::path::Path>,
) -> anyhow::Result<Report> {
    let out = Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{secs}s"),
            "--latency".to_owned(),
        ])
        .args(headers.iter().flat_map(|h| ["-H", h.as_str()]))
        .args(
            script
                .map(|s| ["-s".as_ref(), s.as_os_str()])
                .into_iter()
                .flatten(),
        )
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

fn parse(text: &str) -> anyhow::Result<Report> {
    let words = |prefix: &str| -> Option<Vec<&str>> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].split_whitespace().collect())
    };
    let first = |prefix: &str| words(prefix).and_then(|w| w.first().map(|s| s.to_string()));
    let socket_errors = words("Socket errors:").map_or(0, |w| {
        w.iter()
            .filter_map(|s| s.trim_end_matches(',').parse::<u64>().ok())
            .sum()
    });
    Ok(Report {
        requests_per_sec: first("Requests/sec:").context("no Requests/sec")?.parse()?,
        p50: duration(&first("50%").context("no 50% line (--latency)")?)?,
        p99: duration(&first("99%").context("no 99% line (--latency)")?)?,
        max: duration(
            words("Latency")
                .and_then(|w| w.get(2).map(|s| s.to_string()))
                .as_deref()
                .unwrap_or("0us"),
        )?,
        requests: text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.get(1) == Some(&"requests") && w.get(2) == Some(&"in"))
            .and_then(|w| w.first().and_then(|n| n.parse().ok()))
            .unwrap_or(0),
        non_2xx: first("Non-2xx or 3xx responses:").map_or(Ok(0), |s| s.parse())?,
        socket_errors,
        transfer_per_sec: first("Transfer/sec:").unwrap_or_default(),
    })
}

/// wrk's `812.00us`, `5.12ms`, `1.20s`, `1.00m`.
fn duration(s: &str) -> anyhow::Result<Duration> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {s:?}"))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().with_context(|| format!("not a number: {s:?}"))?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("unknown unit in {s:?}"),
    };
    Ok(Duration::from_secs_f64(secs))
}
