//! Lists at scale: every documented filter and sort of the large collections (feedback,
//! assignments) is answered from an index. The test records the statements the service sends
//! for each list request (diesel's instrumentation, on this test's thread only), has PostgreSQL
//! plan each with its values (`EXPLAIN`) on tables large enough that it weighs an index against
//! reading everything, and fails on a sequential scan of a large table, unless a `LIMIT` right
//! above it stops the scan early (a count capped at 1 001 rows may read a share of a table).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::Value;

use crate::support::TestApp;

thread_local! {
    static RECORDING: RefCell<Option<Arc<Mutex<Vec<String>>>>> = const { RefCell::new(None) };
}

/// The statements of connections opened on a thread that is recording.
fn recorder() -> Option<Box<dyn Instrumentation>> {
    RECORDING.with(|r| {
        r.borrow().clone().map(|sink| {
            Box::new(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event {
                    if let Ok(mut sink) = sink.lock() {
                        sink.push(query.to_string());
                    }
                }
            }) as Box<dyn Instrumentation>
        })
    })
}

/// A value of diesel's `-- binds: [...]` as an SQL literal, and the rest of the text.
fn literal(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((format!("'{}'", value.replace('\'', "''")), &rest[i + 1..])),
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        return None;
    }
    if let Some(mut rest) = text.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(']') {
                let array = if items.is_empty() {
                    "'{}'".to_owned()
                } else {
                    format!("ARRAY[{}]", items.join(", "))
                };
                return Some((array, after));
            }
            let (item, after) = literal(rest)?;
            items.push(item);
            rest = after.trim_start().strip_prefix(',').unwrap_or(after);
        }
    }
    let end = text.find([',', ']']).unwrap_or(text.len());
    let token = text[..end].trim();
    let value = match token {
        "None" => "NULL".to_owned(),
        "true" | "false" => token.to_owned(),
        t if t.parse::<f64>().is_ok() => t.to_owned(),
        // An enum's variant (`SubjectArea`) as the database has it (`subject_area`).
        t if t.chars().all(char::is_alphanumeric) && t.starts_with(char::is_uppercase) => {
            let mut snake = String::new();
            for (i, c) in t.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.extend(c.to_lowercase());
            }
            format!("'{snake}'")
        }
        t => format!("'{t}'"),
    };
    Some((value, &text[end..]))
}

/// The statement with its values in place of `$1`, `$2`, ….
fn with_values(recorded: &str) -> Option<String> {
    let (sql, binds) = recorded.rsplit_once(" -- binds: ")?;
    let mut rest = binds.trim().strip_prefix('[')?;
    let mut values = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.starts_with(']') {
            break;
        }
        let (value, after) = literal(rest)?;
        values.push(value);
        rest = after.trim_start().strip_prefix(',').unwrap_or(after);
    }
    let mut sql = sql.to_owned();
    for (i, value) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), value);
    }
    Some(sql)
}

/// Sequential scans of `tables` in a JSON plan whose parent is not a `Limit`.
fn full_scans(node: &Value, parent: &str, tables: &[&str], found: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().unwrap_or_default();
    if kind == "Seq Scan" && tables.contains(&relation) && parent != "Limit" {
        found.push(relation.to_owned());
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        full_scans(child, kind, tables, found);
    }
}

#[derive(diesel::QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

#[actix_web::test]
async fn every_list_filter_and_sort_of_a_large_collection_reads_an_index() {
    diesel::connection::set_default_instrumentation(recorder).expect("instrumentation");
    let sink = Arc::new(Mutex::new(Vec::new()));
    RECORDING.with(|r| *r.borrow_mut() = Some(sink.clone()));

    let app = TestApp::new().await;
    app.load_demo().await;
    // 30 000 of each (past the triggers, as a restore would), then the statistics.
    app.execute(
        "SET session_replication_role = replica; \
         INSERT INTO networks (id, name, kind, municipality_ids, status) \
         SELECT gen_random_uuid(), 'Nätverk ' || g, 'staff', ARRAY['2281'], 'active' \
         FROM generate_series(1, 300) g; \
         INSERT INTO feedback (id, year, goal, network_id, municipality_id, rating, comment, \
                               external_system, external_id, created_at, updated_at) \
         SELECT gen_random_uuid(), 2020 + g % 3, (ARRAY['core', 'focus', 'internal'])[1 + g % 3], \
                n.id, (ARRAY['2260', '2262', '2280', '2281', '2282', '2283', '2284'])[1 + g % 7], \
                1 + g % 5, 'Kommentar ' || g, 'system', 'ref-' || g, \
                now() - g * interval '1 minute', now() - g * interval '1 minute' \
         FROM generate_series(1, 30000) g \
         JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM networks) n ON n.i = g % 300; \
         INSERT INTO assignments (id, title, description, municipality_ids, area_id, challenge, \
                                  funding_type, budget_sek, start_date, end_date, status, \
                                  created_at, updated_at) \
         SELECT gen_random_uuid(), 'Uppdrag ' || g, '', ARRAY[(ARRAY['2260', '2281'])[1 + g % 2]], \
                (SELECT id FROM areas ORDER BY id OFFSET g % 5 LIMIT 1), \
                (ARRAY['core', 'focus', 'internal'])[1 + g % 3], \
                (ARRAY['internal', 'external'])[1 + g % 2], g * 1000, \
                date '2020-01-01' + g % 1500, date '2021-01-01' + g % 1500, \
                (ARRAY['proposed', 'ongoing', 'completed'])[1 + g % 3], \
                now() - g * interval '1 minute', now() - g * interval '1 minute' \
         FROM generate_series(1, 30000) g; \
         INSERT INTO events (id, title, kind, starts_at, ends_at, network_id, area_id, \
                             municipality_ids, cancelled, external_system, external_id, \
                             created_at, updated_at) \
         SELECT gen_random_uuid(), 'Möte ' || g, \
                (ARRAY['conference', 'training', 'network_meeting', 'presidium_meeting', 'webinar'])[1 + g % 5], \
                timestamptz '2020-01-01 09:00+01' + g * interval '1 hour', \
                timestamptz '2020-01-01 11:00+01' + g * interval '1 hour', \
                n.id, (SELECT id FROM areas ORDER BY id OFFSET g % 5 LIMIT 1), \
                ARRAY[(ARRAY['2260', '2281'])[1 + g % 2]], g % 50 = 0, 'system', 'ev-' || g, \
                now() - g * interval '1 minute', now() - g * interval '1 minute' \
         FROM generate_series(1, 30000) g \
         JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM networks) n ON n.i = g % 300; \
         RESET session_replication_role; \
         ANALYZE feedback; ANALYZE assignments; ANALYZE networks; ANALYZE events;",
    )
    .await;
    let network = app.get("/v1/networks?limit=1").await.json()["items"][0]["id"]
        .as_str()
        .expect("a network")
        .to_owned();
    let area = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003";

    let mut uris: Vec<String> = Vec::new();
    for filter in [
        String::new(),
        "municipalityId=2281".into(),
        format!("networkId={network}"),
        "year=2021".into(),
        "goal=focus".into(),
        "rating=2".into(),
        "externalSystem=system&externalId=ref-17".into(),
    ] {
        uris.push(format!("/v1/feedback?{filter}"));
    }
    for sort in [
        "-createdAt",
        "createdAt",
        "-updatedAt",
        "updatedAt",
        "year",
        "-year",
        "rating",
        "-rating",
    ] {
        uris.push(format!("/v1/feedback?sort={sort}"));
    }
    for filter in [
        String::new(),
        "status=ongoing".into(),
        "municipalityId=2281".into(),
        format!("areaId={area}"),
        "challenge=focus".into(),
        "fundingType=external".into(),
        "activeIn=2022".into(),
    ] {
        uris.push(format!("/v1/assignments?{filter}"));
    }
    for sort in [
        "title",
        "-title",
        "status",
        "-status",
        "startDate",
        "-startDate",
        "endDate",
        "-endDate",
        "budgetSek",
        "-budgetSek",
        "createdAt",
        "-createdAt",
        "updatedAt",
        "-updatedAt",
    ] {
        uris.push(format!("/v1/assignments?sort={sort}"));
    }

    for filter in [
        String::new(),
        "kind=training".into(),
        "from=2022-06-01T00:00:00Z".into(),
        "to=2021-06-01T00:00:00Z".into(),
        "municipalityId=2281".into(),
        format!("networkId={network}"),
        format!("areaId={area}"),
        "cancelled=false".into(),
        "externalSystem=system&externalId=ev-17".into(),
    ] {
        uris.push(format!("/v1/events?{filter}"));
    }
    for sort in [
        "startsAt",
        "-startsAt",
        "title",
        "-title",
        "createdAt",
        "-createdAt",
        "updatedAt",
        "-updatedAt",
    ] {
        uris.push(format!("/v1/events?sort={sort}"));
    }

    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    let mut failures = Vec::new();
    let mut planned = 0;
    for uri in &uris {
        // Past the first page too, by page and by cursor.
        let first = app.get(&format!("{uri}&limit=50")).await;
        assert_eq!(first.status, 200, "{uri}: {}", first.text());
        let mut pages = vec![format!("{uri}&limit=50&page=3")];
        if let Some(cursor) = first.json()["_meta"]["nextCursor"].as_str() {
            pages.push(format!("{uri}&limit=50&after={cursor}"));
        }
        sink.lock().expect("sink").clear();
        for page in &pages {
            let res = app.get(page).await;
            assert_eq!(res.status, 200, "{page}: {}", res.text());
        }
        let statements: Vec<String> = std::mem::take(&mut *sink.lock().expect("sink"));
        for recorded in statements {
            let lower = recorded.to_lowercase();
            if !lower.trim_start().starts_with("select")
                || !(lower.contains("\"feedback\"")
                    || lower.contains("\"assignments\"")
                    || lower.contains("\"events\""))
            {
                continue;
            }
            let sql = with_values(&recorded)
                .unwrap_or_else(|| panic!("{uri}: cannot read the values of {recorded}"));
            let explain = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) {sql}"));
            let plan = diesel_async::RunQueryDsl::get_result::<Plan>(explain, &mut conn)
                .await
                .unwrap_or_else(|e| panic!("{uri}: EXPLAIN failed ({e}): {sql}"));
            let plan: Value = serde_json::from_str(&plan.plan).expect("a JSON plan");
            let mut scans = Vec::new();
            full_scans(
                &plan[0]["Plan"],
                "",
                &["feedback", "assignments", "events"],
                &mut scans,
            );
            planned += 1;
            if !scans.is_empty() {
                failures.push(format!("{uri}: reads all of {scans:?}:\n  {sql}"));
            }
        }
    }
    // A full page of a list PostgreSQL expects more than 10 000 matches of is not counted:
    // the page and the planner's estimate, two statements; the same list again within
    // ESTIMATE_TTL, the page alone, with the same estimate.
    let mut totals = Vec::new();
    for expected in [2, 1] {
        sink.lock().expect("sink").clear();
        let large = app.get("/v1/feedback?externalSystem=system&limit=50").await;
        assert_eq!(large.status, 200, "{}", large.text());
        let sent: Vec<String> = std::mem::take(&mut *sink.lock().expect("sink"))
            .into_iter()
            .map(|s| s.to_lowercase())
            .filter(|s| s.contains("\"feedback\""))
            .collect();
        let counts = sent
            .iter()
            .filter(|s| !s.trim_start().starts_with("explain") && s.contains("count("))
            .count();
        assert_eq!(counts, 0, "a list of 30 000 rows was counted: {sent:#?}");
        assert_eq!(sent.len(), expected, "{sent:#?}");
        let meta = &large.json()["_meta"];
        assert_eq!(meta["totalRecordsIsEstimate"], true, "{meta}");
        totals.push(meta["totalRecords"].as_i64().expect("totalRecords"));
    }
    assert_eq!(totals[0], totals[1]);
    assert!(
        (20_000..=45_000).contains(&totals[0]),
        "an estimate near 30 000: {totals:?}"
    );
    RECORDING.with(|r| *r.borrow_mut() = None);
    assert!(
        planned >= uris.len() * 2,
        "only {planned} statements were planned"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
