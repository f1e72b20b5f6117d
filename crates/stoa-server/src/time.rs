//! The server's clock and the one format timestamps take on the wire (RFC 3339, UTC,
//! millisecond precision).

use stoa_domain::Timestamp;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// RFC 3339 with exactly three fractional digits, so that timestamps sort as text.
const WIRE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The current time. The domain never reads a clock; the server passes this in.
pub fn now() -> Timestamp {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
}

/// Formats a timestamp for the wire, e.g. `2026-11-27T09:30:00.123Z`.
pub fn format(timestamp: Timestamp) -> String {
    let nanos = i128::from(timestamp.millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|moment| moment.format(WIRE_FORMAT).ok())
        .unwrap_or_else(|| timestamp.millis().to_string())
}

/// Reads a date (`YYYY-MM-DD`, UTC) or an RFC 3339 time given for `field`. A date means its
/// first millisecond, or with `end_of_day` its last, so that "on or before a date" takes in
/// the whole day. `None` when the text is neither.
pub fn parse_instant(text: &str, end_of_day: bool) -> Option<Timestamp> {
    let text = text.trim();
    let moment = match time::Date::parse(text, format_description!("[year]-[month]-[day]")) {
        Ok(date) => {
            let moment = date.midnight().assume_utc();
            if end_of_day {
                // Checked: the day after 9999-12-31 is past what the calendar holds.
                moment.checked_add(time::Duration::days(1) - time::Duration::milliseconds(1))?
            } else {
                moment
            }
        }
        Err(_) => {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?
        }
    };
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_take_in_the_whole_day_and_times_are_exact() {
        let start = parse_instant("2026-12-01", false).unwrap();
        let end = parse_instant("2026-12-01", true).unwrap();
        assert_eq!(format(start), "2026-12-01T00:00:00.000Z");
        assert_eq!(format(end), "2026-12-01T23:59:59.999Z");
        let exact = parse_instant("2026-12-01T10:30:00+01:00", true).unwrap();
        assert_eq!(format(exact), "2026-12-01T09:30:00.000Z");
        assert!(parse_instant("yesterday", false).is_none());
        assert!(parse_instant("2026-13-01", false).is_none());
        assert_eq!(
            format(parse_instant("9999-12-31", true).unwrap()),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
