//! Go-style durations (`5m`, `1h30m`, `90s`), as kops and cluster-autoscaler write them.

use std::time::Duration;

/// The longest duration accepted: a year.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Parse `1h30m`, `5m`, `300s`, `500ms`. A bare number is refused: the unit must be said.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{s}` is not a duration like `5m`, `90s` or `1h30m`"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("`{s}` has a bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => return Err(format!("`{s}` has a number without a unit; write e.g. `5m` or `300s`")),
            u => return Err(format!("`{s}` has an unknown unit `{u}`; use h, m, s or ms")),
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    // A year is more than any timeout or interval means; beyond it (or infinite) is a typo,
    // and Duration::from_secs_f64 would panic on an overflow.
    if !total.is_finite() || total > MAX_SECONDS {
        return Err(format!("`{s}` is longer than a year; durations here are timeouts and intervals (e.g. `15m`)"));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse("5").is_err());
        assert!(parse("5 minutes").is_err());
    }

    #[test]
    fn huge_durations_are_an_error_not_a_panic() {
        assert!(parse("18446744073709551615s").unwrap_err().contains("longer than a year"));
        assert!(parse("1e400s").is_err());
        assert!(parse("9999999h").is_err());
        assert!(parse("8760h").is_ok());
    }

}
