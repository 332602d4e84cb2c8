//! The exact wire formats of dates and instants. chrono's own parsers are lenient (`2022-1-1`,
//! `22-01-01` as the year 22, a space for `T`); the API promises RFC 3339 and nothing else, so
//! every date and instant that enters, in a body, a query or a file, is read here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

const DATE_MESSAGE: &str = "must be a date YYYY-MM-DD (RFC 3339 full-date)";
const INSTANT_MESSAGE: &str =
    "must be an RFC 3339 timestamp, e.g. 2026-01-01T00:00:00Z (with Z or an offset)";

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// A date written exactly `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && digits(&b[0..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10]);
    if !shaped {
        return Err(DATE_MESSAGE.to_owned());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{DATE_MESSAGE}: no such date"))
}

/// An instant written exactly as RFC 3339 `date-time` (`T` and `Z` in either case, fractional
/// seconds optional, `Z` or `±HH:MM`).
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let b = s.as_bytes();
    let time_ok = b.len() >= 20
        && s.get(..10).is_some_and(|d| parse_date(d).is_ok())
        && matches!(b[10], b'T' | b't')
        && digits(&b[11..13])
        && b[13] == b':'
        && digits(&b[14..16])
        && b[16] == b':'
        && digits(&b[17..19]);
    if !time_ok {
        return Err(INSTANT_MESSAGE.to_owned());
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(INSTANT_MESSAGE.to_owned());
        }
        rest = &frac[n..];
    }
    let zone_ok = matches!(rest, b"Z" | b"z")
        || (rest.len() == 6
            && matches!(rest[0], b'+' | b'-')
            && digits(&rest[1..3])
            && rest[3] == b':'
            && digits(&rest[4..6]));
    if !zone_ok {
        return Err(INSTANT_MESSAGE.to_owned());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{INSTANT_MESSAGE}: no such instant"))
}

/// `#[serde(deserialize_with = "crate::rules::dates::date_opt")]` for `Option<NaiveDate>`.
pub fn date_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<NaiveDate>, D::Error> {
    Option::<String>::deserialize(de)?
        .map(|s| parse_date(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// For merge-patch members `Option<Option<NaiveDate>>`: absent, `null`, or a strict date.
pub fn date_merge<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<NaiveDate>>, D::Error> {
    date_opt(de).map(Some)
}

/// `#[serde(deserialize_with = "crate::rules::dates::instant_opt")]` for `Option<DateTime<Utc>>`.
pub fn instant_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(de)?
        .map(|s| parse_instant(&s).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_full_dates() {
        assert!(parse_date("2022-01-31").is_ok());
        for bad in [
            "22-01-01",
            "2022-1-1",
            "-0001-01-01",
            "+2022-01-01",
            "2022-02-30",
            "2022-01-01T00:00:00Z",
            " 2022-01-01",
            "2022/01/01",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn instants_are_exactly_rfc_3339() {
        for good in [
            "2026-01-01T00:00:00Z",
            "2026-01-01t00:00:00z",
            "2026-01-01T00:00:00.123456Z",
            "2026-06-01T12:00:00+02:00",
        ] {
            assert!(parse_instant(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            parse_instant("2026-06-01T12:00:00+02:00").map(|t| t.to_rfc3339()),
            Ok("2026-06-01T10:00:00+00:00".to_owned())
        );
        for bad in [
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0200",
            "26-01-01T00:00:00Z",
            "2026-01-01T25:00:00Z",
            "2026-01-01",
            "2026-01-0€T00:00:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?}");
        }
    }
}
