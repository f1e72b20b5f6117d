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
