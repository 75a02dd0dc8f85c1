//! Figures in words for people: times as RFC 3339, durations and shares as a planner reads
//! them, months by name. The reasons and summaries of every indicator, and so the CSV and
//! HTML reports, are written with these; no epoch milliseconds reach a person.

/// A Unix time in milliseconds as RFC 3339 (UTC), e.g. `2026-03-01T09:30:00Z`.
pub fn time(ms: i64) -> String {
    evfed_spec::time::DateTime::from_unix_millis(ms)
        .map_or_else(|| "an unknown time".to_owned(), |d| d.to_string())
}

fn unit(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A duration in seconds in words, to the two largest units: `45 seconds`, `5 minutes`,
/// `2 hours 5 minutes`, `3 days 4 hours`.
pub fn duration_s(s: i64) -> String {
    let s = s.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    let two = |a: String, b: i64, b_one: &str| {
        if b == 0 {
            a
        } else {
            format!("{a} {}", unit(b, b_one))
        }
    };
    if d > 0 {
        two(unit(d, "day"), h, "hour")
    } else if h > 0 {
        two(unit(h, "hour"), m, "minute")
    } else if m > 0 {
        two(unit(m, "minute"), s % 60, "second")
    } else {
        unit(s, "second")
    }
}

/// A share as a percentage with two decimals, e.g. `98.00 %`.
pub fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// `YYYY-MM` as `March 2026`.
pub fn month(m: &str) -> String {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = m
        .split_once('-')
        .and_then(|(y, mo)| Some((y, NAMES.get(mo.parse::<usize>().ok()?.checked_sub(1)?)?)));
    name.map_or_else(|| m.to_owned(), |(y, n)| format!("{n} {y}"))
}

/// A list as English: `a`, `a and b`, `a, b and c`.
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `n` things, singular or plural: `1 charge point`, `3 charge points`.
pub fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_words() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_772_357_400_000), "2026-03-01T09:30:00Z");
        assert_eq!(duration_s(1), "1 second");
        assert_eq!(duration_s(45), "45 seconds");
        assert_eq!(duration_s(300), "5 minutes");
        assert_eq!(duration_s(3_600), "1 hour");
        assert_eq!(duration_s(7_500), "2 hours 5 minutes");
        assert_eq!(duration_s(3 * 86_400 + 4 * 3_600 + 59), "3 days 4 hours");
        assert_eq!(duration_s(-5), "0 seconds");
        assert_eq!(pct(0.98), "98.00 %");
        assert_eq!(month("2026-03"), "March 2026");
        assert_eq!(month("garbage"), "garbage");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(count(1, "charge point"), "1 charge point");
    }
}
