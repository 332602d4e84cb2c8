//! Files as Swedish staff write and read them: enum values as their Swedish labels, Swedish
//! column headers (`labels=sv` exports that load back unchanged), and the import templates.

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{TestApp, violation_lines};

const COLLECTIONS: [(&str, &str); 6] = [
    ("networks", "/v1/networks"),
    ("events", "/v1/events"),
    ("assignments", "/v1/assignments"),
    ("progress-reports", "/v1/progress-reports"),
    ("feedback", "/v1/feedback"),
    (
        "members",
        "/v1/networks/d1000000-0000-4000-8000-000000000001/members",
    ),
];

async fn load(app: &TestApp, collection: &str, content_type: &str, body: Vec<u8>) -> Value {
    post_file(app, collection, content_type, body, "?dryRun=true").await
}

async fn post_file(
    app: &TestApp,
    collection: &str,
    content_type: &str,
    body: Vec<u8>,
    query: &str,
) -> Value {
    let importer = app.token(&[Scope::Import], None).await;
    let res = app
        .call_as(
            &importer,
            TestRequest::post()
                .uri(&format!("/v1/imports/{collection}{query}"))
                .insert_header(("Content-Type", content_type))
                .set_payload(body),
        )
        .await;
    let mut json = res.json();
    json["status"] = json!(res.status);
    json
}

async fn export(app: &TestApp, uri: &str) -> String {
    let admin = app.token(&[Scope::Admin, Scope::Read], None).await;
    let res = app
        .call_as(
            &admin,
            TestRequest::get()
                .uri(uri)
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(res.status, 200, "{uri}: {}", res.text());
    res.text()
}

#[actix_web::test]
async fn every_collection_exports_in_swedish_and_loads_back_unchanged() {
    let app = TestApp::new().await;
    app.load_demo().await;
    for (collection, list) in COLLECTIONS {
        let english = export(&app, &format!("{list}?limit=500")).await;
        let swedish = export(&app, &format!("{list}?labels=sv")).await;
        let rows = english.lines().count() - 1;
        assert!(rows > 0, "{collection}: the demo has rows");
        assert_eq!(swedish.lines().count(), english.lines().count());
        assert!(
            swedish.starts_with("\u{feff}ID;"),
            "{collection}: Swedish headers: {}",
            swedish.lines().next().unwrap_or_default()
        );
        for text in [&english, &swedish] {
            let result = load(&app, collection, "text/csv", text.clone().into_bytes()).await;
            assert_eq!(result["status"], 200, "{collection}: {result}");
            assert_eq!(
                (
                    result["unchanged"].as_u64(),
                    result["created"].as_u64(),
                    result["updated"].as_u64()
                ),
                (Some(rows as u64), Some(0), Some(0)),
                "{collection}: {result}"
            );
        }
    }
    let feedback = export(&app, "/v1/feedback?labels=sv").await;
    let header = feedback.lines().next().unwrap_or_default();
    assert!(header.contains(";År;Mål;"), "{header}");
    assert!(header.contains(";Betyg;Kommentar;Förslag;"), "{header}");
    assert!(feedback.contains(";Fokusutmaningen;"), "goals as labels");
    assert!(!feedback.contains(";focus;"));
    let assignments = export(&app, "/v1/assignments?labels=sv").await;
    assert!(assignments.contains(";Pågår;"), "statuses as labels");
}

#[actix_web::test]
async fn swedish_labels_are_read_whatever_their_case_and_accents() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let net = "d1000000-0000-4000-8000-000000000001";
    let csv = format!(
        "\u{feff}År;Mål;Nätverk-ID;Betyg;Förslag\r\n\
         2022;Fokusutmaningen;{net};4;Samordningsområde:Gemensam upphandling\r\n\
         2022;fokus;{net};3;utveckling:Kompetenslyft|PÅVERKAN:Nära vård\r\n\
         2022;KÄRNUTMANINGEN;{net};5;\r\n\
         2022;karnutmaning;{net};2;\r\n\
         2022;Den interna utmaningen;{net};1;\r\n"
    );
    let result = load(&app, "feedback", "text/csv", csv.into_bytes()).await;
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["created"], 5, "{result}");
    let ndjson = format!(
        "{}\n",
        json!({"year": 2022, "goal": "Fokusutmaningen", "networkId": net, "rating": 4,
               "suggestions": [{"kind": "Påverkansområde", "text": "Nära vård"}]})
    );
    let result = load(
        &app,
        "feedback",
        "application/x-ndjson",
        ndjson.into_bytes(),
    )
    .await;
    assert_eq!(result["created"], 1, "{result}");
    // A label that names nothing is named on its line and column, with what is allowed.
    let bad = format!(
        "År;Mål;Nätverk-ID;Betyg;Förslag\n2022;fokuss;{net};7;förbättring:Mer\n2022;Pågår;{net};3;\n"
    );
    let result = load(&app, "feedback", "text/csv", bad.into_bytes()).await;
    assert_eq!(result["status"], 400, "{result}");
    let violations = &result["violations"];
    let mut got = violation_lines(&result);
    got.sort();
    assert_eq!(
        got,
        [
            (2, "Betyg".to_owned()),
            (2, "Förslag[0].kind".to_owned()),
            (2, "Mål".to_owned()),
            (3, "Mål".to_owned())
        ],
        "{result}"
    );
    let message = violations
        .as_array()
        .and_then(|v| v.iter().find(|v| v["field"] == "Mål"))
        .and_then(|v| v["message"].as_str())
        .unwrap_or_default();
    assert!(
        message.contains("\"fokuss\"") && message.contains("`focus` (Fokusutmaningen"),
        "{message}"
    );
    // The JSON API speaks only the values.
    let writer = app.token(&[Scope::Write], None).await;
    let res = app
        .call_as(
            &writer,
            TestRequest::post().uri("/v1/feedback").set_json(
                json!({"year": 2022, "goal": "Fokusutmaningen", "networkId": net, "rating": 4}),
            ),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text());
}

#[actix_web::test]
async fn templates_give_the_columns_and_an_example_that_loads() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let doc = app.get("/v1/openapi.json").await.json();
    let documented = doc["paths"]["/v1/imports/{collection}/template"]["get"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for (collection, _) in COLLECTIONS {
        for query in ["", "?labels=sv"] {
            let res = app
                .get(&format!("/v1/imports/{collection}/template{query}"))
                .await;
            assert_eq!(res.status, 200, "{collection}: {}", res.text());
            assert_eq!(res.header("Content-Type"), Some("text/csv; charset=utf-8"));
            assert_eq!(
                res.header("Content-Disposition"),
                Some(format!("attachment; filename=\"{collection}-mall.csv\"").as_str())
            );
            let text = res.text();
            assert!(text.starts_with('\u{feff}'));
            assert_eq!(text.lines().count(), 2, "{collection}: header and example");
            let header = text
                .trim_start_matches('\u{feff}')
                .lines()
                .next()
                .unwrap_or_default();
            for column in header.split(';') {
                if query.is_empty() {
                    assert!(
                        documented.contains(&format!("| `{column}` |")),
                        "{collection}: {column} is documented"
                    );
                }
            }
            let result = load(&app, collection, "text/csv", res.body.clone()).await;
            assert_eq!(result["status"], 200, "{collection}{query}: {result}");
            assert_eq!(result["created"], 1, "{collection}{query}: {result}");
            let etag = res.header("ETag").unwrap_or_default().to_owned();
            let again = app
                .call_as(
                    &app.reader,
                    TestRequest::get()
                        .uri(&format!("/v1/imports/{collection}/template{query}"))
                        .insert_header(("If-None-Match", etag)),
                )
                .await;
            assert_eq!(again.status, 304);
        }
    }
    assert!(documented.contains("| `rating` | Betyg | whole number | yes |"));
    let missing = app.get("/v1/imports/budgets/template").await;
    missing.problem(404, "not-found");
    let wrong = app.get("/v1/imports/feedback/template?labels=en").await;
    assert_eq!(wrong.status, 400);
}

/// Columns a spreadsheet program's save leaves as they were, for comparing a fixture with
/// today's export: everything but the timestamps, which are when the demo was seeded.
fn without_timestamps(csv: &str) -> Vec<Vec<String>> {
    csv.trim_start_matches('\u{feff}')
        .lines()
        .map(|line| {
            let cells: Vec<String> = line.split(';').map(str::to_owned).collect();
            cells[..cells.len() - 2].to_vec()
        })
        .collect()
}

/// Files a real spreadsheet program wrote (LibreOffice Calc, by
/// `tests/fixtures/spreadsheet/make.sh`): an export opened, one cell changed, saved as each
/// of the text formats Swedish Excel offers. Each loads back as exactly that one change.
#[actix_web::test]
async fn files_saved_by_a_spreadsheet_program_load_back() {
    let app = TestApp::new().await;
    app.load_demo().await;
    // The fixtures were made from the demo's exports; if the demo changes, make them again.
    // (The rows in ID order: the demo's entries share their createdAt, so their order in an
    // export is the tie-break's.)
    let by_id = |mut rows: Vec<Vec<String>>| {
        if rows.len() > 1 {
            rows[1..].sort();
        }
        rows
    };
    for (uri, source) in [
        (
            "/v1/feedback?labels=sv&year=2022",
            include_str!("../fixtures/spreadsheet/feedback-2022.csv"),
        ),
        (
            "/v1/progress-reports",
            include_str!("../fixtures/spreadsheet/progress-reports.csv"),
        ),
    ] {
        assert_eq!(
            by_id(without_timestamps(&export(&app, uri).await)),
            by_id(without_timestamps(source)),
            "{uri}: the demo changed; run tests/fixtures/spreadsheet/make.sh"
        );
    }
    let edited_line_3 = json!({"created": [], "updated": [[3, 3]], "unchanged": [[2, 2], [4, 23]]});
    for (collection, name, file, lines) in [
        (
            "feedback",
            "semikolon, Windows-1252",
            &include_bytes!("../fixtures/spreadsheet/feedback-2022-semikolon-windows-1252.csv")[..],
            &edited_line_3,
        ),
        (
            "feedback",
            "Unicode-text (UTF-16, tabs)",
            &include_bytes!("../fixtures/spreadsheet/feedback-2022-unicode-text.txt")[..],
            &edited_line_3,
        ),
        (
            "feedback",
            "CSV UTF-8",
            &include_bytes!("../fixtures/spreadsheet/feedback-2022-utf-8.csv")[..],
            &edited_line_3,
        ),
        (
            "feedback",
            "ID, Version and Betyg only",
            &include_bytes!("../fixtures/spreadsheet/feedback-2022-ratings-only.csv")[..],
            &json!({"created": [], "updated": [[4, 4]], "unchanged": [[2, 3], [5, 23]]}),
        ),
        (
            "progress-reports",
            "semikolon, Windows-1252",
            &include_bytes!("../fixtures/spreadsheet/progress-reports-semikolon-windows-1252.csv")
                [..],
            &json!({"created": [], "updated": [[2, 2]], "unchanged": [[3, 63]]}),
        ),
    ] {
        let result = load(&app, collection, "text/csv", file.to_vec()).await;
        assert_eq!(result["status"], 200, "{collection} {name}: {result}");
        assert_eq!(&result["lines"], lines, "{collection} {name}: {result}");
    }
    let before = app
        .get("/v1/feedback/d5000000-0000-4000-8000-000000000003")
        .await
        .json();
    let result = post_file(
        &app,
        "feedback",
        "text/csv",
        include_bytes!("../fixtures/spreadsheet/feedback-2022-ratings-only.csv").to_vec(),
        "",
    )
    .await;
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["updated"], 1, "{result}");
    let after = app
        .get("/v1/feedback/d5000000-0000-4000-8000-000000000003")
        .await
        .json();
    assert_eq!(after["rating"], 1, "{after}");
    assert_eq!(after["version"], 2, "{after}");
    for kept in [
        "comment",
        "goal",
        "networkId",
        "municipalityId",
        "suggestions",
    ] {
        assert_eq!(
            after[kept], before[kept],
            "{kept}: a deleted column keeps its values"
        );
    }
    let progress = app
        .get(
            "/v1/assignments/d3000000-0000-4000-8000-000000000001/reports/\
             d4000000-0000-4000-8000-000000000003",
        )
        .await
        .json();
    assert_eq!(
        progress["forecastSek"], 9800000,
        "a dry run wrote nothing: {progress}"
    );
}
