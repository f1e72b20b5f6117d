//! The three spellings of an event's time used in the files: milliseconds since 1970, RFC 3339
//! UTC text with milliseconds, and .NET ticks (Lync's `long`). Formatting allocates nothing,
//! since it runs once or more per exported event.

/// 0001-01-01T00:00:00.000Z, the first instant .NET ticks can express.
pub const MIN_MILLIS: i64 = -62_135_596_800_000;
/// 9999-12-31T23:59:59.999Z, the last instant a four-digit year can express.
pub const MAX_MILLIS: i64 = 253_402_300_799_999;
/// .NET ticks (100 ns) from 0001-01-01T00:00:00Z to the Unix epoch.
const TICKS_AT_UNIX_EPOCH: i64 = 621_355_968_000_000_000;

/// `true` when `millis` lies in years 0001 to 9999, the range both text forms can carry.
pub fn in_range(millis: i64) -> bool {
    (MIN_MILLIS..=MAX_MILLIS).contains(&millis)
}

/// .NET ticks for `millis`: 100 ns intervals since 0001-01-01T00:00:00Z. `None` outside
/// [`in_range`].
pub fn dotnet_ticks(millis: i64) -> Option<i64> {
    if !in_range(millis) {
        return None;
    }
    Some(millis * 10_000 + TICKS_AT_UNIX_EPOCH)
}

/// RFC 3339 UTC text with milliseconds, `YYYY-MM-DDTHH:MM:SS.mmmZ` (always 24 bytes). `None`
/// outside [`in_range`].
pub fn rfc3339_millis(millis: i64) -> Option<Rfc3339> {
    if !in_range(millis) {
        return None;
    }
    let days = millis.div_euclid(86_400_000);
    let millis_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let hour = millis_of_day / 3_600_000;
    let minute = millis_of_day / 60_000 % 60;
    let second = millis_of_day / 1000 % 60;
    let milli = millis_of_day % 1000;
    let mut bytes = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut bytes[0..4], year);
    put_digits(&mut bytes[5..7], month);
    put_digits(&mut bytes[8..10], day);
    put_digits(&mut bytes[11..13], hour);
    put_digits(&mut bytes[14..16], minute);
    put_digits(&mut bytes[17..19], second);
    put_digits(&mut bytes[20..23], milli);
    Some(Rfc3339(bytes))
}

/// A formatted time, kept on the stack.
#[derive(Clone, Copy)]
pub struct Rfc3339([u8; 24]);

impl Rfc3339 {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

fn put_digits(slot: &mut [u8], mut value: i64) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month, day) of the proleptic Gregorian calendar for days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(millis: i64) -> String {
        rfc3339_millis(millis)
            .map(|text| text.as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(formatted(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(formatted(1_212_610_540_953), "2008-06-04T20:15:40.953Z");
        assert_eq!(formatted(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(formatted(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(formatted(MIN_MILLIS), "0001-01-01T00:00:00.000Z");
        assert_eq!(formatted(MAX_MILLIS), "9999-12-31T23:59:59.999Z");
        assert!(rfc3339_millis(MAX_MILLIS + 1).is_none());
        assert!(rfc3339_millis(MIN_MILLIS - 1).is_none());
    }

    #[test]
    fn agrees_with_the_time_crate() {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let mut millis = MIN_MILLIS;
        while millis < MAX_MILLIS {
            let expected =
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                    .ok()
                    .and_then(|instant| instant.format(&format).ok());
            assert_eq!(Some(formatted(millis)), expected, "{millis}");
            millis += 7_777_777_777_777;
        }
    }

    #[test]
    fn ticks_match_lync_s_sample() {
        // Lync's documentation shows since1970="1212610540953" with long="633482073409535482";
        // its ticks carry sub-millisecond digits that milliseconds cannot, hence the 5482.
        assert_eq!(
            dotnet_ticks(1_212_610_540_953),
            Some(633_482_073_409_530_000)
        );
        assert_eq!(dotnet_ticks(MIN_MILLIS), Some(0));
        assert_eq!(dotnet_ticks(MAX_MILLIS + 1), None);
    }
}
