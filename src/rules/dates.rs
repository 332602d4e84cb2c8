//! The exact wire formats of dates and instants. chrono's own parsers are lenient (`2022-1-1`,
//! `22-01-01` as the year 22, a space for `T`); the API promises RFC 3339 and nothing else, so
//! every date and instant that enters, in a body, a query or a file, is read here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

const DATE_MESSAGE: &str = "must be a date YYYY-MM-DD (RFC 3339 full-date)";
/// What a malformed instant is told, wherever it comes (a body, a query, a file).
pub const INSTANT_MESSAGE: &str =
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

/// Deserializes an optional instant of a JSON Merge Patch: absent → `None`, `null` →
/// `Some(None)`.
pub fn instant_merge<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    instant_opt(de).map(Some)
}

/// The local time in Sweden (Europe/Stockholm: CET, and CEST from 01:00 UTC on the last Sunday
/// of March to 01:00 UTC on the last Sunday of October, the EU rule since 1996).
pub fn stockholm(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    use chrono::{Datelike, Duration, TimeZone};
    let last_sunday = |month: u32| {
        let first_of_next = NaiveDate::from_ymd_opt(at.year(), month + 1, 1).unwrap_or_default();
        let last = first_of_next - Duration::days(1);
        let back = i64::from(last.weekday().num_days_from_sunday());
        let day = last - Duration::days(back);
        Utc.from_utc_datetime(&day.and_hms_opt(1, 0, 0).unwrap_or_default())
    };
    let summer = at >= last_sunday(3) && at < last_sunday(10);
    at.naive_utc() + Duration::hours(if summer { 2 } else { 1 })
}

/// The instant of midnight at the start of `date` in Sweden (never in the hour summer time
/// skips, which is 02:00–03:00).
pub fn stockholm_midnight(date: NaiveDate) -> DateTime<Utc> {
    use chrono::{Duration, TimeZone};
    let local = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    let winter = Utc.from_utc_datetime(&(local - Duration::hours(1)));
    if stockholm(winter) == local {
        winter
    } else {
        Utc.from_utc_datetime(&(local - Duration::hours(2)))
    }
}

/// A date as Swedes write it in running text: `2 december 2026`.
pub fn swedish_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    let month = MONTHS[date.month0() as usize];
    format!("{} {month} {}", date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_in_sweden_follows_summer_time() {
        let d = |s: &str| parse_date(s).unwrap();
        let i = |s: &str| parse_instant(s).unwrap();
        assert_eq!(
            stockholm_midnight(d("2022-01-15")),
            i("2022-01-14T23:00:00Z")
        );
        assert_eq!(
            stockholm_midnight(d("2022-03-27")),
            i("2022-03-26T23:00:00Z")
        );
        assert_eq!(
            stockholm_midnight(d("2022-03-28")),
            i("2022-03-27T22:00:00Z")
        );
        assert_eq!(
            stockholm_midnight(d("2022-10-30")),
            i("2022-10-29T22:00:00Z")
        );
        assert_eq!(
            stockholm_midnight(d("2022-10-31")),
            i("2022-10-30T23:00:00Z")
        );
    }

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

    #[test]
    fn swedish_local_time_follows_summer_time() {
        let at = |s: &str| parse_instant(s).unwrap();
        let local = |s: &str| stockholm(at(s)).format("%Y-%m-%d %H:%M").to_string();
        assert_eq!(local("2026-01-15T12:00:00Z"), "2026-01-15 13:00");
        assert_eq!(local("2026-07-01T12:00:00Z"), "2026-07-01 14:00");
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(local("2026-03-29T00:59:00Z"), "2026-03-29 01:59");
        assert_eq!(local("2026-03-29T01:00:00Z"), "2026-03-29 03:00");
        assert_eq!(local("2026-10-25T00:59:00Z"), "2026-10-25 02:59");
        assert_eq!(local("2026-10-25T01:00:00Z"), "2026-10-25 02:00");
        assert_eq!(local("2026-12-31T23:30:00Z"), "2027-01-01 00:30");
        let date = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(swedish_date(date), "2 december 2026");
    }
}
