//! `Timestamp`: a UTC instant with millisecond precision, written as RFC 3339.
//!
//! Stored in the database as fixed-width text (`2026-11-26T06:33:05.123Z`) so that text
//! order is time order and indexes on time columns work for range queries.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The wall clock now.
    pub fn now() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            });
        Self(millis)
    }

    /// Builds a timestamp from milliseconds since the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

impl fmt::Display for Timestamp {
    /// Formats as RFC 3339 UTC with milliseconds, e.g. `2026-11-26T06:33:05.123Z`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            formatter,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        )
    }
}

impl Timestamp {
    /// Parses an RFC 3339 date-time (`2026-11-26T06:33:05Z`, `…05.5+01:00`, lower-case
    /// `t`/`z` or a space separator allowed). Fractions finer than a millisecond round up,
    /// which keeps `created_at >= from` and `created_at < to` exact for stored times.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        const FORMAT: &str = "must be an RFC 3339 date-time such as 2026-11-26T06:33:05Z";
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
            let part = bytes.get(range).ok_or(FORMAT)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return Err(FORMAT.into());
            }
            Ok(part
                .iter()
                .fold(0, |value, digit| value * 10 + i64::from(digit - b'0')))
        };
        let separators_ok = bytes.len() >= 20
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && matches!(bytes[10], b'T' | b't' | b' ')
            && bytes[13] == b':'
            && bytes[16] == b':';
        if !separators_ok {
            return Err(FORMAT.into());
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err("is not a valid date and time".into());
        }

        let mut index = 19;
        let mut fraction_nanos = 0i64;
        if bytes[index] == b'.' {
            let start = index + 1;
            index = start;
            while index < bytes.len() && bytes[index].is_ascii_digit() {
                index += 1;
            }
            if index == start {
                return Err(FORMAT.into());
            }
            for (position, digit) in bytes[start..index].iter().take(9).enumerate() {
                fraction_nanos += i64::from(digit - b'0') * 10i64.pow(8 - position as u32);
            }
            let finer = bytes[start..index]
                .iter()
                .skip(9)
                .any(|digit| *digit != b'0');
            if finer {
                fraction_nanos += 1;
            }
        }
        let offset_seconds = match bytes.get(index..) {
            Some([b'Z' | b'z']) => 0,
            Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
                let (hours, minutes) =
                    (digits(index + 1..index + 3)?, digits(index + 4..index + 6)?);
                if hours > 23 || minutes > 59 {
                    return Err("has an invalid UTC offset".into());
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'+' { offset } else { -offset }
            }
            _ => return Err(FORMAT.into()),
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        let millis = (fraction_nanos as u64).div_ceil(1_000_000) as i64;
        Ok(Self(seconds * 1000 + millis))
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (the inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Converts days since 1970-01-01 into a (year, month, day) civil date.
/// Howard Hinnant's algorithm: exact for the whole proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
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

    #[test]
    fn parses_rfc3339_with_offsets_fractions_and_separators() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-11-26T06:33:05.123Z", 1_795_674_785_123),
            ("2026-11-26t07:33:05.123+01:00", 1_795_674_785_123),
            ("2026-11-26 01:03:05.123-05:30", 1_795_674_785_123),
            ("2000-02-29T00:00:00.5Z", 951_782_400_500),
            ("2000-02-29T00:00:00.0001Z", 951_782_400_001),
            ("2000-02-29T00:00:00.000000000Z", 951_782_400_000),
            ("1969-12-31T23:59:59.999Z", -1),
        ];
        for (text, millis) in cases {
            assert_eq!(
                Timestamp::parse_rfc3339(text),
                Ok(Timestamp(millis)),
                "{text}"
            );
        }
        let round_trip = Timestamp(1_795_674_785_123);
        assert_eq!(
            Timestamp::parse_rfc3339(&round_trip.to_string()),
            Ok(round_trip)
        );
    }

    #[test]
    fn refuses_invalid_dates_and_formats() {
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26T06:33:05",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+1:00",
            "2026-01-01T00:00:00+24:00",
            "2026/01/01T00:00:00Z",
            "2026-01-01T00:00:00Zjunk",
            "+2026-01-01T00:00:00Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(
                Timestamp::parse_rfc3339(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn formats_known_instants_as_rfc3339_utc_with_millis() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_795_674_785_123, "2026-11-26T06:33:05.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (millis, expected) in cases {
            assert_eq!(Timestamp::from_unix_millis(millis).to_string(), expected);
        }
    }
}
