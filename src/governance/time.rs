//! Times as the audit commands read and print them: RFC 3339 in UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2025-03-01T12:00:00Z` (or any RFC 3339 offset), `2025-03-01` (midnight UTC), or `now`, as
/// milliseconds since the Unix epoch.
pub fn parse_ms(text: &str) -> Result<i64, String> {
    if text.trim() == "now" {
        return Ok(crate::alerts::now_ms());
    }
    crate::config::parse_time_ms(text, false)
        .map_err(|_| format!("{text:?} is not a time like 2025-03-01T12:00:00Z, 2025-03-01 or now"))
}

/// RFC 3339 in UTC, milliseconds included.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_ms("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_ms("1970-01-01T01:00:00+01:00").unwrap(), 0);
        let ms = 1_700_000_000_123;
        assert_eq!(parse_ms(&format_ms(ms)).unwrap(), ms);
        assert!(parse_ms("yesterday").unwrap_err().contains("yesterday"));
    }
}
