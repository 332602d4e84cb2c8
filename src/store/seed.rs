//! Reference data (the member municipalities, the collaboration areas and the 2022 plan), seeded
//! idempotently at every start-up: missing rows are added, existing rows are left as an
//! administrator may have edited them.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::store::schema::{areas, municipalities, plan_goals, plans};

/// kommunkod, name, official name, organisation number (None where not confirmed).
pub const MUNICIPALITIES: [(&str, &str, &str, Option<&str>); 7] = [
    ("2260", "Ånge", "Ånge kommun", Some("212000-2387")),
    ("2262", "Timrå", "Timrå kommun", Some("212000-2395")),
    ("2280", "Härnösand", "Härnösands kommun", None),
    (
        "2281",
        "Sundsvall",
        "Sundsvalls kommun",
        Some("212000-2411"),
    ),
    ("2282", "Kramfors", "Kramfors kommun", Some("212000-2429")),
    ("2283", "Sollefteå", "Sollefteå kommun", None),
    ("2284", "Örnsköldsvik", "Örnsköldsviks kommun", None),
];

/// Västernorrlands län.
pub const COUNTY_CODE: &str = "22";

/// Fixed ids, so every installation (and every integration's configuration) agrees on them.
pub const AREAS: [(Uuid, &str, &str); 5] = [
    (
        Uuid::from_u128(0x6b1f1c52_5d0e_4c39_9a51_0d1f7c2a0001),
        "Kommunövergripande frågor & EU",
        "Frågor som berör alla kommunernas verksamheter, samt bevakning och påverkan i europeiska samarbeten.",
    ),
    (
        Uuid::from_u128(0x6b1f1c52_5d0e_4c39_9a51_0d1f7c2a0002),
        "Digitalisering",
        "Kommunernas gemensamma digitala utveckling.",
    ),
    (
        Uuid::from_u128(0x6b1f1c52_5d0e_4c39_9a51_0d1f7c2a0003),
        "Socialtjänstens samverkans- och stödstrukturer",
        "Regional samverkans- och stödstruktur för socialtjänsten och angränsande hälso- och sjukvård.",
    ),
    (
        Uuid::from_u128(0x6b1f1c52_5d0e_4c39_9a51_0d1f7c2a0004),
        "Kultur & Fritid",
        "Samverkan inom kultur-, fritids- och ungdomsfrågor.",
    ),
    (
        Uuid::from_u128(0x6b1f1c52_5d0e_4c39_9a51_0d1f7c2a0005),
        "Utbildning & Arbetsliv",
        "Samverkan inom förskola, skola, vuxenutbildning och arbetsmarknad.",
    ),
];

pub const PLAN_2022: (i32, &str, &str) = (
    2022,
    "Verksamhetsplan 2022",
    "Tillsammans för välfärd och utveckling",
);

/// challenge, name, theme, statement (seed 002, sections 3–5).
pub const GOALS_2022: [(&str, &str, Option<&str>, &str); 3] = [
    (
        "core",
        "Kärnutmaningen",
        None,
        "Efter 2022 kommer länets kommuner att uppleva att de fått stöd för att ta ytterligare steg mot verksamheter som håller en likställd och god kvalitet.",
    ),
    (
        "focus",
        "Fokusutmaningen",
        Some("Kompetensförsörjning"),
        "Efter 2022 kommer kommunerna uppleva att möjligheten att tillvarata befintlig kompetens och utveckla nödvändig ny kunskap har stärkts.",
    ),
    (
        "internal",
        "Den interna utmaningen",
        None,
        "Efter 2022 kommer kommunerna att uppleva att de får stöd av medarbetare som har bred kompetens, och att Kommunförbundets medarbetare ”krokar arm” med varandra när det gynnar kommunerna.",
    ),
];

/// Whether `value` is a Swedish organisation number: `NNNNNN-NNNN` whose ten digits pass the
/// Luhn check.
pub fn is_valid_organisation_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != 11 || bytes[6] != b'-' {
        return false;
    }
    let digits: Vec<u32> = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 6)
        .map(|(_, b)| (*b as char).to_digit(10))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                *d
            }
        })
        .sum();
    sum % 10 == 0
}

/// How many reference rows were added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub municipalities: usize,
    pub areas: usize,
    pub plans: usize,
}

/// Adds whatever reference rows are missing, in one transaction.
pub async fn reference_data(conn: &mut AsyncPgConnection) -> QueryResult<SeedReport> {
    conn.transaction(async |conn| {
        let mut report = SeedReport::default();
        for (id, name, official, orgnr) in MUNICIPALITIES {
            report.municipalities += diesel::insert_into(municipalities::table)
                .values((
                    municipalities::id.eq(id),
                    municipalities::name.eq(name),
                    municipalities::official_name.eq(official),
                    municipalities::county_code.eq(COUNTY_CODE),
                    municipalities::organisation_number.eq(orgnr),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        for (id, name, description) in AREAS {
            report.areas += diesel::insert_into(areas::table)
                .values((
                    areas::id.eq(id),
                    areas::name.eq(name),
                    areas::description.eq(description),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        let (year, title, vision) = PLAN_2022;
        let added = diesel::insert_into(plans::table)
            .values((
                plans::year.eq(year),
                plans::title.eq(title),
                plans::vision.eq(vision),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if added > 0 {
            for (challenge, name, theme, statement) in GOALS_2022 {
                diesel::insert_into(plan_goals::table)
                    .values((
                        plan_goals::year.eq(year),
                        plan_goals::challenge.eq(challenge),
                        plan_goals::name.eq(name),
                        plan_goals::theme.eq(theme),
                        plan_goals::statement.eq(statement),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
        }
        report.plans += added;
        Ok(report)
    })
    .await
}

/// Demo data drawn from the association's documents: the 22 focus-area investments of the 2022
/// plan as assignments (with a status history through 2022), networks and presidia with
/// members, tertial reports and the 2022 feedback. Idempotent.
pub const DEMO_SQL: &str = include_str!("demo.sql");

/// Loads the demo data (in one transaction; loading it again changes nothing).
pub async fn demo_data(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    use diesel_async::SimpleAsyncConnection;
    conn.transaction(async |conn| conn.batch_execute(DEMO_SQL).await)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_organisation_numbers_pass_luhn() {
        for (id, _, _, orgnr) in MUNICIPALITIES {
            if let Some(orgnr) = orgnr {
                assert!(is_valid_organisation_number(orgnr), "{id}: {orgnr}");
            }
        }
    }

    #[test]
    fn luhn_rejects_typos_and_bad_shapes() {
        assert!(is_valid_organisation_number("212000-2411"));
        assert!(!is_valid_organisation_number("212000-2412"));
        assert!(!is_valid_organisation_number("2120002411"));
        assert!(!is_valid_organisation_number("212000-241"));
        assert!(!is_valid_organisation_number("21200a-2411"));
        assert!(!is_valid_organisation_number("212000+2411"));
    }
}
