//! Bulk loads: Swedish Excel CSV, NDJSON, all or nothing with line numbers, dry runs, repeated
//! loads that change nothing, municipality binding, limits, and export → import round trips.

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{Res, TestApp};

async fn load(
    app: &TestApp,
    token: &str,
    collection: &str,
    content_type: &str,
    body: Vec<u8>,
    query: &str,
) -> Res {
    app.call_as(
        token,
        TestRequest::post()
            .uri(&format!("/v1/imports/{collection}{query}"))
            .insert_header(("Content-Type", content_type))
            .set_payload(body),
    )
    .await
}

async fn network(app: &TestApp) -> String {
    let w = app.token(&[Scope::Write], None).await;
    app.call_as(
        &w,
        TestRequest::post()
            .uri("/v1/networks")
            .set_json(json!({"name": "Socialchefsnätverket", "kind": "management"})),
    )
    .await
    .json()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A list's exact total (at most 1 000: above that it is an estimate).
async fn count(app: &TestApp, uri: &str) -> i64 {
    let meta = app.get(uri).await.json()["_meta"].clone();
    assert_eq!(meta["totalRecordsIsEstimate"], false, "{meta}");
    meta["totalRecords"].as_i64().expect("count")
}

/// A CSV file as Swedish Excel saves it: BOM, `;`, CRLF, Windows-ready UTF-8.
fn excel(rows: &[String]) -> Vec<u8> {
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend(rows.join("\r\n").into_bytes());
    body.extend(b"\r\n");
    body
}

#[actix_web::test]
async fn csv_from_swedish_excel_loads() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let rows = vec![
        "year;goal;networkId;municipalityId;rating;comment;suggestions".to_owned(),
        format!(
            "2022;focus;{net};2281;4;Kompetensförsörjningen har stärkts i Örnsköldsvik och Ånge;development:Gemensam strategi|advocacy:Nära vård"
        ),
        format!("2022;core;{net};;3;\"Bra; men \"\"mer\"\" behövs\r\nNästa år: fler träffar\";"),
        format!("2022;internal;{net};2284;5;;coordination:Samordnad upphandling"),
    ];
    let res = load(
        &app,
        &importer,
        "feedback",
        "text/csv; charset=utf-8",
        excel(&rows),
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"collection": "feedback", "dryRun": false, "rows": 3, "created": 3, "updated": 0, "unchanged": 0})
    );
    let listed = app.get("/v1/feedback?goal=core").await.json();
    assert_eq!(
        listed["items"][0]["comment"],
        "Bra; men \"mer\" behövs\r\nNästa år: fler träffar"
    );
    let focus = app.get("/v1/feedback?goal=focus").await.json();
    assert_eq!(
        focus["items"][0]["suggestions"],
        json!([{"kind": "development", "text": "Gemensam strategi"}, {"kind": "advocacy", "text": "Nära vård"}])
    );
    assert!(
        focus["items"][0]["comment"]
            .as_str()
            .expect("comment")
            .contains("Örnsköldsvik och Ånge")
    );
    // The load is one audit entry.
    let admin = app.token(&[Scope::Admin], None).await;
    let audit = app
        .call_as(&admin, TestRequest::get().uri("/v1/audit?action=import"))
        .await
        .json();
    assert_eq!(audit["_meta"]["totalRecords"], 1);

    // A comma-separated file with a decimal comma in a money column is refused, not misread.
    let comma = "title,municipalityIds,areaId,fundingType,budgetSek\nUppdrag,2281,6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002,internal,\"1500,50\"\n";
    let res = load(
        &app,
        &importer,
        "assignments",
        "text/csv",
        comma.as_bytes().to_vec(),
        "",
    )
    .await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["line"], 2);
    assert_eq!(p["violations"][0]["field"], "budgetSek");
    assert!(
        p["violations"][0]["message"]
            .as_str()
            .expect("message")
            .contains("decimal comma")
    );
}

/// The files Excel writes, byte for byte: "CSV (semikolonavgränsad)" (Windows-1252, `;`, CRLF)
/// and "Unicode-text" (UTF-16 LE with its mark, TAB, CRLF), with quoted line breaks; and the
/// ones it cannot be read from get one problem that says how to save them.
#[actix_web::test]
async fn the_files_swedish_excel_writes_load() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let comment = "“Bra” för Härnösand; 5 000 € till Örnsköldsvik\r\nNästa år: Ånge";
    let semicolons = format!(
        "year;goal;networkId;municipalityId;rating;comment\r\n\
         2022;focus;{net};2280;4;\"“Bra” för Härnösand; 5 000 € till Örnsköldsvik\r\nNästa år: Ånge\"\r\n"
    );
    // Windows-1252: å = E5, ä = E4, ö = F6, Ö = D6, € = 80, “ = 93, ” = 94.
    let cp1252: Vec<u8> = semicolons
        .chars()
        .map(|c| match c {
            'å' => 0xE5,
            'ä' => 0xE4,
            'ö' => 0xF6,
            'Ö' => 0xD6,
            'Å' => 0xC5,
            '€' => 0x80,
            '“' => 0x93,
            '”' => 0x94,
            c if c.is_ascii() => c as u8,
            c => panic!("{c} is not in the test's table"),
        })
        .collect();
    assert!(std::str::from_utf8(&cp1252).is_err());
    let res = load(&app, &importer, "feedback", "text/csv", cp1252, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["created"], 1);
    let got = app.get("/v1/feedback?municipalityId=2280").await.json();
    assert_eq!(got["items"][0]["comment"], comment, "{got}");

    let tabs = format!(
        "year\tgoal\tnetworkId\tmunicipalityId\trating\tcomment\r\n\
         2022\tcore\t{net}\t2284\t3\t\"Två rader:\r\nsamverkan i Örnsköldsvik\"\r\n"
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in tabs.encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    let res = load(&app, &importer, "feedback", "text/csv", utf16, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let got = app.get("/v1/feedback?municipalityId=2284").await.json();
    assert_eq!(
        got["items"][0]["comment"], "Två rader:\r\nsamverkan i Örnsköldsvik",
        "{got}"
    );

    // A workbook, UTF-16 without its mark, and a file that turns from UTF-8 to Windows-1252 on
    // line 3: one problem each, on its line, saying how to save the file.
    let mut no_mark = Vec::new();
    for unit in tabs.encode_utf16() {
        no_mark.extend(unit.to_le_bytes());
    }
    let mixed = [
        format!("year;goal;networkId;rating;comment\r\n2022;focus;{net};4;Härnösand\r\n")
            .into_bytes(),
        format!("2022;core;{net};3;Timr").into_bytes(),
        vec![0xE5, b'\r', b'\n'],
    ]
    .concat();
    for (body, line, says) in [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00".to_vec(), 1, ".xlsx"),
        (no_mark, 1, "UTF-16"),
        (mixed, 3, "mixes two encodings"),
    ] {
        let res = load(&app, &importer, "feedback", "text/csv", body, "").await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(p["violations"].as_array().map(Vec::len), Some(1), "{p}");
        assert_eq!(p["violations"][0]["line"], line, "{p}");
        let message = p["violations"][0]["message"].as_str().expect("message");
        assert!(message.contains(says), "{message}");
        assert!(message.contains("Spara som"), "{message}");
    }
    assert_eq!(count(&app, "/v1/feedback").await, 2);
}

#[actix_web::test]
async fn one_bad_line_among_fifty_thousand_writes_nothing_and_is_named() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let mut rows = vec!["year;goal;networkId;rating;comment".to_owned()];
    for i in 2..=50_001u32 {
        let rating = if i == 50_000 { 9 } else { 1 + i % 5 };
        rows.push(format!("2022;focus;{net};{rating};Rad {i}"));
    }
    let res = load(&app, &importer, "feedback", "text/csv", excel(&rows), "").await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(
        p["violations"],
        json!([{"line": 50_000, "field": "rating", "message": "must be 1, 2, 3, 4 or 5"}])
    );
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .starts_with("Nothing was written")
    );
    assert_eq!(count(&app, "/v1/feedback").await, 0);

    // Fixed, the same file loads whole.
    rows[49_999] = format!("2022;focus;{net};3;Rad 50000");
    let res = load(&app, &importer, "feedback", "text/csv", excel(&rows), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["created"], 50_000);
    // Above 1 000 the list's total is an estimate: the rows are counted in the database.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM feedback").await,
        50_000
    );
}

#[actix_web::test]
async fn every_bad_line_is_listed_and_references_are_checked() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let ndjson = [
        json!({"year": 2022, "goal": "focus", "networkId": net, "rating": 4}),
        json!({"year": 2022, "goal": "focus", "networkId": net, "rating": "fyra"}),
        json!({"year": 2023, "goal": "focus", "networkId": net, "rating": 4}),
        json!({"year": 2022, "goal": "focus", "networkId": "00000000-0000-4000-8000-000000000000", "rating": 4}),
        json!({"year": 2022, "goal": "focus", "networkId": net, "rating": 4, "colour": "blå"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
        + "\nnot json\n";
    let p = load(
        &app,
        &importer,
        "feedback",
        "application/x-ndjson",
        ndjson.clone().into_bytes(),
        "",
    )
    .await
    .problem(400, "validation-failed");
    let found = crate::support::violation_lines(&p);
    // Every problem in one answer: the lines' own and the database's (no 2023 plan, no such
    // network), in the file's order.
    assert_eq!(
        found,
        [
            (2, "rating".to_owned()),
            (3, "goal".to_owned()),
            (4, "networkId".to_owned()),
            (5, "colour".to_owned()),
            (6, "body".to_owned())
        ]
    );
    let sound: String = ndjson
        .lines()
        .take(4)
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n");
    let p = load(
        &app,
        &importer,
        "feedback",
        "application/x-ndjson",
        sound.into_bytes(),
        "",
    )
    .await
    .problem(400, "validation-failed");
    let found: Vec<(u64, &str)> = p["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().expect("line"),
                v["field"].as_str().expect("field"),
            )
        })
        .collect();
    assert_eq!(found, [(2, "goal"), (3, "networkId")]);
    assert_eq!(count(&app, "/v1/feedback").await, 0);

    load(
        &app,
        &importer,
        "widgets",
        "text/csv",
        b"a\n1\n".to_vec(),
        "",
    )
    .await
    .problem(404, "not-found");
    load(
        &app,
        &importer,
        "feedback",
        "application/json",
        b"[]".to_vec(),
        "",
    )
    .await
    .problem(415, "unsupported-media-type");
    let writer = app.token(&[Scope::Write, Scope::Read], None).await;
    load(
        &app,
        &writer,
        "feedback",
        "text/csv",
        b"year\n".to_vec(),
        "",
    )
    .await
    .problem(403, "forbidden");
    let mut config = crate::support::test_config();
    config.imports.max_bytes = 1000;
    config.imports.max_rows = 5;
    let small = TestApp::with_config(config).await;
    let importer = small.token(&[Scope::Import], None).await;
    let res = load(
        &small,
        &importer,
        "feedback",
        "text/csv",
        vec![b'x'; 2000],
        "",
    )
    .await;
    res.problem(413, "payload-too-large");
    let rows = format!(
        "year;goal;networkId;rating\n{}",
        "2022;core;00000000-0000-4000-8000-000000000001;4\n".repeat(6)
    );
    let res = load(
        &small,
        &importer,
        "feedback",
        "text/csv",
        rows.into_bytes(),
        "",
    )
    .await;
    res.problem(413, "payload-too-large");
}

#[actix_web::test]
async fn dry_runs_and_repeated_loads_write_nothing() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let file = (1..=20)
        .map(|i| json!({"title": format!("Uppdrag {i}"), "municipalityIds": ["2281"], "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
                        "fundingType": "internal", "budgetSek": i * 1000, "externalSystem": "diariet", "externalId": format!("D-{i}")}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let dry = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        file.clone().into_bytes(),
        "?dryRun=true",
    )
    .await;
    assert_eq!(
        dry.json(),
        json!({"collection": "assignments", "dryRun": true, "rows": 20, "created": 20, "updated": 0, "unchanged": 0,
               "lines": {"created": [[1, 20]], "updated": [], "unchanged": []}})
    );
    assert_eq!(count(&app, "/v1/assignments").await, 0);
    let first = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        file.clone().into_bytes(),
        "",
    )
    .await;
    assert_eq!(first.json()["created"], 20);
    let feed_head = app.get("/v1/changes?limit=1000").await.json()["nextCursor"].clone();
    let again = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        file.clone().into_bytes(),
        "",
    )
    .await;
    assert_eq!(
        again.json(),
        json!({"collection": "assignments", "dryRun": false, "rows": 20, "created": 0, "updated": 0, "unchanged": 20})
    );
    let after = app
        .get(&format!(
            "/v1/changes?after={}",
            feed_head.as_str().expect("cursor")
        ))
        .await
        .json();
    assert_eq!(
        after["items"],
        json!([]),
        "an unchanged load leaves no feed entries"
    );
    let versions = app.get("/v1/assignments?limit=100").await.json();
    assert!(
        versions["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|a| a["version"] == 1)
    );
    // One changed row: one update.
    let changed = file.replacen("\"budgetSek\":1000", "\"budgetSek\":1111", 1);
    let dry = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        changed.clone().into_bytes(),
        "?dryRun=true",
    )
    .await;
    assert_eq!(
        (
            dry.json()["updated"].clone(),
            dry.json()["unchanged"].clone()
        ),
        (json!(1), json!(19))
    );
    let res = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        changed.into_bytes(),
        "",
    )
    .await;
    assert_eq!(
        (
            res.json()["updated"].clone(),
            res.json()["unchanged"].clone()
        ),
        (json!(1), json!(19))
    );
    // The same external reference twice in one file is refused.
    let twice = format!(
        "{}\n{}",
        file.lines().next().expect("line"),
        file.lines().next().expect("line")
    );
    let p = load(
        &app,
        &importer,
        "assignments",
        "application/x-ndjson",
        twice.into_bytes(),
        "",
    )
    .await
    .problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["field"], "externalId");
}

#[actix_web::test]
async fn a_bound_client_loads_only_its_own_municipality() {
    let app = TestApp::new().await;
    let net = network(&app).await;
    let timra = app.token(&[Scope::Import], Some("2262")).await;
    let rows = vec![
        "year;goal;networkId;municipalityId;rating".to_owned(),
        format!("2022;focus;{net};2262;4"),
        format!("2022;focus;{net};2281;4"),
    ];
    let res = load(&app, &timra, "feedback", "text/csv", excel(&rows), "").await;
    let p = res.problem(403, "forbidden");
    assert!(
        p["detail"].as_str().expect("detail").contains("lines 3"),
        "{p}"
    );
    assert_eq!(count(&app, "/v1/feedback").await, 0);
    let own = load(&app, &timra, "feedback", "text/csv", excel(&rows[..2]), "").await;
    assert_eq!(own.status, 200, "{}", own.text());
}

#[actix_web::test]
async fn an_export_loads_back_unchanged() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let file = [
        json!({"name": "Kultur- och fritidschefsnätverket", "kind": "subject_area", "municipalityIds": ["2260", "2284"],
               "description": "Möten; fyra gånger per år.\nAlla kommuner bjuds in.", "externalSystem": "kfv", "externalId": "N1"}),
        json!({"name": "Åkerbruksnätverket", "kind": "staff", "coordinator": "Åsa Öberg", "externalSystem": "kfv", "externalId": "N2"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    assert_eq!(
        load(
            &app,
            &importer,
            "networks",
            "application/x-ndjson",
            file.into_bytes(),
            ""
        )
        .await
        .json()["created"],
        2
    );
    for (accept, content_type) in [
        ("text/csv", "text/csv"),
        ("application/x-ndjson", "application/x-ndjson"),
    ] {
        let export = app
            .call_as(
                &app.reader,
                TestRequest::get()
                    .uri("/v1/networks")
                    .insert_header(("Accept", accept)),
            )
            .await;
        assert_eq!(export.status, 200);
        let res = load(
            &app,
            &importer,
            "networks",
            content_type,
            export.body.clone(),
            "",
        )
        .await;
        assert_eq!(res.status, 200, "{accept}: {}", res.text());
        assert_eq!(res.json()["unchanged"], 2, "{accept}: {}", res.text());
        assert_eq!(res.json()["created"], 0);
    }
    let versions: Vec<i64> = app.get("/v1/networks").await.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["version"].as_i64().expect("version"))
        .collect();
    assert_eq!(versions, [1, 1]);
}

#[actix_web::test]
async fn an_idempotent_load_replays_its_result() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let body = format!("year,goal,networkId,rating\n2022,core,{net},4\n");
    let send = || {
        TestRequest::post()
            .uri("/v1/imports/feedback")
            .insert_header(("Content-Type", "text/csv"))
            .insert_header(("Idempotency-Key", "load-2022-11-22"))
            .set_payload(body.clone())
    };
    let first = app.call_as(&importer, send()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = app.call_as(&importer, send()).await;
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(count(&app, "/v1/feedback").await, 1);
}

#[actix_web::test]
async fn the_command_line_loads_and_exports_over_http() {
    let app = TestApp::new().await;
    let net = network(&app).await;
    let url = format!("http://127.0.0.1:{}", app.listen().await);
    // Signs in as an API client: id in an option, secret in the environment.
    let (client, secret) = app.client(&[Scope::Import, Scope::Read], None).await;
    let dir = std::env::temp_dir().join(format!("samverkan-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("svar.csv");
    std::fs::write(
        &good,
        excel(&[
            "year;goal;networkId;rating".to_owned(),
            format!("2022;core;{net};4"),
            format!("2022;focus;{net};5"),
            format!("2022;internal;{net};2"),
        ]),
    )
    .expect("file");
    let bad = dir.join("fel.csv");
    std::fs::write(
        &bad,
        excel(&[
            "year;goal;networkId;rating".to_owned(),
            format!("2022;core;{net};4"),
            format!("2022;fokuserat;{net};7"),
        ]),
    )
    .expect("file");
    let run = |url: &str, args: &[&str]| {
        let url = url.to_owned();
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.insert(1, format!("--client-id={client}"));
        let secret = secret.clone();
        actix_web::rt::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_samverkan"))
                .args(args)
                .env("SAMVERKAN_URL", url)
                .env("SAMVERKAN_CLIENT_SECRET", secret)
                .env_remove("SAMVERKAN_TOKEN")
                .output()
                .expect("run samverkan")
        })
    };
    let path = |p: &std::path::Path| p.display().to_string();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let out = run(&url, &["import", "--dry-run", "feedback", &path(&good)])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dry run"));
    // Both phases are reported (not a terminal here: as lines).
    let stderr = text(&out.stderr);
    assert!(stderr.contains("sending"), "{stderr}");
    assert!(
        stderr.contains("Sent 4 lines; the service is checking and writing them"),
        "{stderr}"
    );
    assert_eq!(count(&app, "/v1/feedback").await, 0);
    // Refused: exit 1, every problem listed, and written for Excel with --problems.
    let problems = dir.join("problem.csv");
    let out = run(
        &url,
        &[
            "import",
            "--problems",
            &path(&problems),
            "feedback",
            &path(&bad),
        ],
    )
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3: rating: must be 1, 2, 3, 4 or 5"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&problems).expect("problems file");
    let mut lines = written.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next(), Some("Rad;Kolumn;Problem"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{written}");
    assert!(rows.iter().any(|r| r.starts_with("3;goal;")), "{written}");
    assert!(
        rows.contains(&"3;rating;must be 1, 2, 3, 4 or 5"),
        "{written}"
    );
    let out = run(&url, &["import", "feedback", &path(&good)])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 created"));
    // Export with the list's filters, in Swedish.
    let out = run(
        &url,
        &[
            "export",
            "--format",
            "ndjson",
            "--filter",
            "year=2022",
            "--filter",
            "rating=4",
            "feedback",
        ],
    )
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = run(
        &url,
        &[
            "export",
            "--filter",
            "goal=focus",
            "--labels",
            "sv",
            "feedback",
        ],
    )
    .await
    .expect("join");
    let csv = text(&out.stdout);
    assert!(
        csv.contains(";År;Mål;") && csv.contains(";Fokusutmaningen;"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2);
    // A filter the list does not have: refused by the service, exit 1.
    let out = run(&url, &["export", "--filter", "colour=red", "feedback"])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("colour"),
        "{}",
        text(&out.stderr)
    );
    // Members: of one network, or of every network in one file that loads back.
    let members = dir.join("medlemmar.csv");
    std::fs::write(
        &members,
        excel(&[
            "networkId;name;title".to_owned(),
            format!("{net};Anna Sundberg;Skolchef"),
        ]),
    )
    .expect("file");
    let out = run(&url, &["import", "members", &path(&members)])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = network(&app).await;
    std::fs::write(
        &members,
        excel(&[
            "networkId;name".to_owned(),
            format!("{second};Bo Lind"),
            format!("{second};Cecilia Ek"),
        ]),
    )
    .expect("file");
    let out = run(&url, &["import", "members", &path(&members)])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&url, &["export", "--network", &net, "members"])
        .await
        .expect("join");
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let all = dir.join("alla.csv");
    let out = run(&url, &["export", "--output", &path(&all), "members"])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported = std::fs::read_to_string(&all).expect("export");
    assert_eq!(
        exported.lines().count(),
        4,
        "one header, three members: {exported}"
    );
    let out = run(&url, &["import", "--dry-run", "members", &path(&all)])
        .await
        .expect("join");
    assert!(
        text(&out.stdout).contains("3 unchanged"),
        "{}",
        text(&out.stdout)
    );
    // Usage and connection problems: exit 2, nothing checked.
    let out = run(&url, &["export", "--filter", "year", "feedback"])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(2));
    let out = run("http://127.0.0.1:9", &["import", "feedback", &path(&good)])
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A CSV file of one row with these columns, as Excel writes it (`;`, every cell quoted, lists
/// with `|`, suggestions as `kind:text`).
fn one_row_csv(row: &serde_json::Map<String, Value>) -> Vec<u8> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => format!(
                    "{}:{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["text"].as_str().unwrap_or_default()
                ),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|"),
        other => other.to_string(),
    };
    let header: Vec<String> = row.keys().map(|k| quote(k)).collect();
    let values: Vec<String> = row.values().map(|v| quote(&cell(v))).collect();
    format!("{}\r\n{}\r\n", header.join(";"), values.join(";")).into_bytes()
}

/// For every collection and every field rule, the same bad value gets the same violation
/// (field and message) from the JSON endpoint and from a CSV line, where it also names line 2.
#[actix_web::test]
async fn every_field_rule_is_the_same_through_json_and_csv() {
    const AREA: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Write, Scope::Read], None).await;
    let importer = app.token(&[Scope::Import], None).await;
    let net = network(&app).await;
    let assignment = app
        .call_as(
            &writer,
            TestRequest::post().uri("/v1/assignments").set_json(json!({
                "title": "Resurscentrum", "municipalityIds": ["2281"], "areaId": AREA,
                "fundingType": "internal", "status": "ongoing"
            })),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let long = |n: usize| "x".repeat(n);
    // (collection, JSON endpoint, the parent's column in a file, a valid record, field, bad
    // value). A blank cell is an absent value in a file, so blank texts are not among them.
    let network_body = json!({"name": "Skolchefsnätverket", "kind": "management", "municipalityIds": ["2281"], "externalSystem": "intranet", "externalId": "N-1"});
    let member_body =
        json!({"name": "Anna Lindqvist", "email": "anna@example.se", "municipalityId": "2281"});
    let assignment_body = json!({"title": "Digitaliseringsguiden", "municipalityIds": ["2281"], "areaId": AREA, "fundingType": "internal", "budgetSek": 1000});
    let report_body = json!({"year": 2022, "tertial": 2, "summary": "Klart", "spentSek": 10, "forecastSek": 20, "deviation": "none"});
    let feedback_body =
        json!({"year": 2022, "goal": "focus", "networkId": net, "rating": 4, "comment": "Bra"});
    let members_uri = format!("/v1/networks/{net}/members");
    let reports_uri = format!("/v1/assignments/{assignment}/reports");
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<(&'a str, &'a str)>,
        &'a Value,
        &'a str,
        Value,
    );
    let cases: Vec<Case> = vec![
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "name",
            json!(long(201)),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "kind",
            json!("committee"),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "status",
            json!("closed"),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "description",
            json!(long(4001)),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "coordinator",
            json!(long(201)),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "municipalityIds",
            json!(["228"]),
        ),
        (
            "networks",
            "/v1/networks",
            None,
            &network_body,
            "externalSystem",
            json!(long(101)),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "name",
            json!(long(201)),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "email",
            json!("anna@"),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "email",
            json!("anna lindqvist@example.se"),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "phone",
            json!(long(51)),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "title",
            json!(long(201)),
        ),
        (
            "members",
            &members_uri,
            Some(("networkId", &net)),
            &member_body,
            "municipalityId",
            json!("22811"),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "title",
            json!(long(301)),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "fundingType",
            json!("external"),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "challenge",
            json!("fokuserat"),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "budgetSek",
            json!(-1),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "partners",
            json!([long(201)]),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "startDate",
            json!("2022-02-30"),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "responsible",
            json!(long(201)),
        ),
        (
            "assignments",
            "/v1/assignments",
            None,
            &assignment_body,
            "status",
            json!("paused"),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "year",
            json!(1999),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "tertial",
            json!(4),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "summary",
            json!(long(10_001)),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "spentSek",
            json!(-5),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "deviation",
            json!("minor"),
        ),
        (
            "progress-reports",
            &reports_uri,
            Some(("assignmentId", &assignment)),
            &report_body,
            "deviationNote",
            json!(long(4001)),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "year",
            json!(2101),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "goal",
            json!("fokuserat"),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "rating",
            json!(7),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "comment",
            json!(long(10_001)),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "municipalityId",
            json!("2a81"),
        ),
        (
            "feedback",
            "/v1/feedback",
            None,
            &feedback_body,
            "suggestions",
            json!([{"kind": "development", "text": long(501)}]),
        ),
    ];
    let as_pairs = |p: &Value| -> Vec<(String, String)> {
        p["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .map(|v| {
                (
                    v["field"].as_str().expect("field").to_owned(),
                    v["message"].as_str().expect("message").to_owned(),
                )
            })
            .collect()
    };
    for (collection, uri, parent, valid, field, bad) in cases {
        let mut body = valid.as_object().expect("object").clone();
        body.insert(field.to_owned(), bad.clone());
        let through_json = app
            .call_as(&writer, TestRequest::post().uri(uri).set_json(&body))
            .await
            .problem(400, "validation-failed");
        let mut row = serde_json::Map::new();
        if let Some((column, id)) = parent {
            row.insert(column.to_owned(), json!(id));
        }
        row.extend(body);
        let through_csv = load(
            &app,
            &importer,
            collection,
            "text/csv",
            one_row_csv(&row),
            "",
        )
        .await
        .problem(400, "validation-failed");
        let lines: Vec<Option<u64>> = through_csv["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .map(|v| v["line"].as_u64())
            .collect();
        assert!(
            lines.iter().all(|l| *l == Some(2)),
            "{collection}.{field}: {through_csv}"
        );
        // An enum's rule is the one exception: files also take the values' Swedish labels, so
        // their message lists the same values with their labels.
        let json_pairs = as_pairs(&through_json);
        let csv_pairs: Vec<(String, String)> = as_pairs(&through_csv)
            .into_iter()
            .zip(&json_pairs)
            .map(|((field, message), (_, expected))| {
                // serde's "unknown variant `x`, expected `a` or `b`": the quoted words after x.
                let values = expected.strip_prefix("unknown variant ").map(|rest| {
                    rest.split('`')
                        .skip(1)
                        .step_by(2)
                        .skip(1)
                        .collect::<Vec<_>>()
                });
                match values {
                    Some(values)
                        if !values.is_empty()
                            && message.contains(" is none of ")
                            && values.iter().all(|v| message.contains(&format!("`{v}` ("))) =>
                    {
                        (field, expected.clone())
                    }
                    _ => (field, message),
                }
            })
            .collect();
        assert_eq!(json_pairs, csv_pairs, "{collection}.{field} = {bad}");
        // Cross-field rules name the field that is missing.
        let named = match field {
            "fundingType" => "funder",
            "deviation" => "deviationNote",
            other => other,
        };
        assert!(
            as_pairs(&through_json)
                .iter()
                .any(|(f, _)| f.starts_with(named)),
            "{collection}.{field}: the violation names the field: {through_json}"
        );
    }
}

/// Records created over HTTP, exported, edited in Excel and loaded back: rows match by `id`,
/// `version` is each row's `If-Match`, unchanged rows write nothing, and every problem of the
/// file comes at once.
#[actix_web::test]
async fn an_export_edited_in_excel_loads_back_by_id() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let writer = app.token(&[Scope::Write], None).await;
    let net = network(&app).await;
    for (goal, rating) in [("focus", 3), ("core", 4), ("internal", 5)] {
        let res = app
            .call_as(
                &writer,
                TestRequest::post().uri("/v1/feedback").set_json(json!({
                    "year": 2022, "goal": goal, "networkId": net, "rating": rating,
                    "comment": "Bra; men \"mer\" behövs\nnästa år"})),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
    }
    let export = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/feedback?sort=rating")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(export.status, 200);
    // Edit the file as Excel would: read it, change one cell, write it back (`;`, BOM, CRLF).
    let edit = |body: &[u8], changes: &[(usize, &str, &str)]| -> Vec<u8> {
        let text = std::str::from_utf8(body).expect("utf-8");
        let text = text.trim_start_matches('\u{feff}');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.as_bytes());
        let headers = reader.headers().expect("header").clone();
        let mut rows: Vec<csv::StringRecord> =
            reader.records().map(|r| r.expect("a record")).collect();
        for (row, column, value) in changes {
            let at = headers.iter().position(|h| h == *column).expect("column");
            let mut cells: Vec<String> = rows[*row].iter().map(str::to_owned).collect();
            cells[at] = (*value).to_owned();
            rows[*row] = csv::StringRecord::from(cells);
        }
        let mut out = vec![0xEF, 0xBB, 0xBF];
        let mut writer = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        writer.write_record(&headers).expect("header");
        for r in &rows {
            writer.write_record(r).expect("row");
        }
        writer.flush().expect("flush");
        drop(writer);
        out
    };
    // Unchanged: nothing to do.
    let res = load(
        &app,
        &importer,
        "feedback",
        "text/csv",
        export.body.clone(),
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        (
            res.json()["created"].clone(),
            res.json()["updated"].clone(),
            res.json()["unchanged"].clone()
        ),
        (json!(0), json!(0), json!(3))
    );
    // One rating changed: a dry run says so, the load writes that one row only.
    let edited = edit(&export.body, &[(0, "rating", "1")]);
    let dry = load(
        &app,
        &importer,
        "feedback",
        "text/csv",
        edited.clone(),
        "?dryRun=true",
    )
    .await;
    assert_eq!(dry.status, 200, "{}", dry.text());
    assert_eq!(
        (
            dry.json()["updated"].clone(),
            dry.json()["unchanged"].clone()
        ),
        (json!(1), json!(2))
    );
    // Per line (each record takes two lines: its comment has a line break).
    assert_eq!(
        dry.json()["lines"],
        json!({"created": [], "updated": [[2, 2]], "unchanged": [[4, 4], [6, 6]]})
    );
    let res = load(&app, &importer, "feedback", "text/csv", edited.clone(), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.json().get("lines").is_none(),
        "only dry runs list lines"
    );
    assert_eq!(
        (
            res.json()["updated"].clone(),
            res.json()["unchanged"].clone()
        ),
        (json!(1), json!(2))
    );
    let items = app.get("/v1/feedback?sort=rating").await.json()["items"].clone();
    let summary: Vec<(i64, i64)> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|f| {
            (
                f["rating"].as_i64().expect("rating"),
                f["version"].as_i64().expect("version"),
            )
        })
        .collect();
    assert_eq!(summary, [(1, 2), (4, 1), (5, 1)]);
    assert_eq!(items[0]["comment"], "Bra; men \"mer\" behövs\nnästa år");
    assert_eq!(count(&app, "/v1/feedback").await, 3);

    // The old file again: its first row was exported at version 1, the record is at 2 now.
    let stale = edit(&export.body, &[(0, "rating", "2")]);
    let res = load(&app, &importer, "feedback", "text/csv", stale, "").await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["line"], 2, "{p}");
    assert_eq!(p["violations"][0]["field"], "version", "{p}");
    assert!(
        p["violations"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("conflict")),
        "{p}"
    );
    assert_eq!(
        app.get("/v1/feedback?sort=rating").await.json()["items"][0]["rating"],
        1
    );
    // The same edited file once more: its version is old, but the record already has its
    // values, so nothing conflicts and nothing is written.
    let res = load(&app, &importer, "feedback", "text/csv", edited, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["unchanged"], 3, "{}", res.text());

    // Every problem at once: a rating of 7, a goal that is no goal, an id that is no UUID,
    // whatever their kind. (Each record takes two lines: its comment has a line break.)
    let fresh = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/feedback?sort=rating")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    let broken = edit(
        &fresh.body,
        &[
            (0, "rating", "7"),
            (1, "goal", "fokusområde"),
            (1, "id", "not-a-uuid"),
        ],
    );
    let res = load(&app, &importer, "feedback", "text/csv", broken, "").await;
    let p = res.problem(400, "validation-failed");
    let found = crate::support::violation_lines(&p);
    assert_eq!(found.len(), 3, "{found:?}");
    for expected in [(2, "rating"), (4, "goal"), (4, "id")] {
        assert!(
            found.contains(&(expected.0, expected.1.to_owned())),
            "{expected:?} in {found:?}"
        );
    }
    // The database's checks (an id no record has) come in the same answer as the file's own.
    let unknown = edit(
        &fresh.body,
        &[
            (0, "rating", "7"),
            (2, "id", "5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b"),
        ],
    );
    let p = load(&app, &importer, "feedback", "text/csv", unknown, "")
        .await
        .problem(400, "validation-failed");
    assert_eq!(
        crate::support::violation_lines(&p),
        [(2, "rating".to_owned()), (6, "id".to_owned())],
        "{p}"
    );
    // Without the id column the rows are new records.
    let res = load(
        &app,
        &importer,
        "feedback",
        "text/csv",
        edit(&fresh.body, &[(0, "id", ""), (0, "version", "")]),
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        (
            res.json()["created"].clone(),
            res.json()["unchanged"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_eq!(count(&app, "/v1/feedback").await, 4);
}

#[actix_web::test]
async fn a_file_with_some_columns_changes_only_those() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let writer = app.token(&[Scope::Write], None).await;
    let net = network(&app).await;
    let mut ids = Vec::new();
    for (goal, rating) in [("focus", 3), ("core", 4)] {
        let res = app
            .call_as(
                &writer,
                TestRequest::post().uri("/v1/feedback").set_json(json!({
                    "year": 2022, "goal": goal, "networkId": net, "municipalityId": "2281",
                    "rating": rating, "comment": "Bra arbete"})),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
        ids.push(res.json()["id"].as_str().expect("id").to_owned());
    }
    // The columns a person kept after deleting the others in Excel, by their Swedish headers.
    let file = |rows: &[(&str, &str, &str)]| {
        let mut lines = vec!["Id;Version;Betyg".to_owned()];
        lines.extend(rows.iter().map(|(id, v, r)| format!("{id};{v};{r}")));
        excel(&lines)
    };
    let csv = async |body: Vec<u8>, query: &str| {
        load(&app, &importer, "feedback", "text/csv", body, query).await
    };
    let edited = file(&[(&ids[0], "1", "1"), (&ids[1], "1", "4")]);
    let dry = csv(edited.clone(), "?dryRun=true").await;
    assert_eq!(dry.status, 200, "{}", dry.text());
    assert_eq!(
        dry.json()["lines"],
        json!({"created": [], "updated": [[2, 2]], "unchanged": [[3, 3]]}),
        "{}",
        dry.text()
    );
    let res = csv(edited, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        (
            res.json()["updated"].clone(),
            res.json()["unchanged"].clone()
        ),
        (json!(1), json!(1))
    );
    let first = app.get(&format!("/v1/feedback/{}", ids[0])).await.json();
    assert_eq!(
        (
            &first["rating"],
            &first["comment"],
            &first["municipalityId"],
            &first["goal"],
            &first["version"]
        ),
        (
            &json!(1),
            &json!("Bra arbete"),
            &json!("2281"),
            &json!("focus"),
            &json!(2)
        ),
        "only the rating changed: {first}"
    );
    let second = app.get(&format!("/v1/feedback/{}", ids[1])).await.json();
    assert_eq!(second["version"], 1, "an unchanged row writes nothing");

    // Someone changes a column the file leaves out: the file's row, exported before, conflicts
    // when it changes something, and a load never puts the old comment back.
    let res = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/feedback/{}", ids[1]))
                .insert_header(("If-Match", "\"1\""))
                .insert_header(("Content-Type", "application/merge-patch+json"))
                .set_payload(r#"{"comment": "Ändrad i intranätet"}"#),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let p = csv(file(&[(&ids[1], "1", "2")]), "")
        .await
        .problem(400, "validation-failed");
    assert_eq!(
        crate::support::violation_lines(&p),
        [(2, "version".to_owned())],
        "{p}"
    );
    let res = csv(file(&[(&ids[1], "2", "2")]), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let second = app.get(&format!("/v1/feedback/{}", ids[1])).await.json();
    assert_eq!(
        (&second["rating"], &second["comment"]),
        (&json!(2), &json!("Ändrad i intranätet"))
    );

    // The filled rows are checked whole, by the same rules; a row without an id needs every
    // required column; an id no record has is named. All in one answer.
    let mut lines = vec!["id;version;rating".to_owned()];
    lines.push(format!("{};;7", ids[0]));
    lines.push(";;3".to_owned());
    lines.push("5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b;;3".to_owned());
    let p = csv(excel(&lines), "")
        .await
        .problem(400, "validation-failed");
    let found = crate::support::violation_lines(&p);
    for expected in [
        (2, "rating"),
        (3, "year"),
        (3, "goal"),
        (3, "networkId"),
        (4, "id"),
    ] {
        assert!(
            found.contains(&(expected.0, expected.1.to_owned())),
            "{expected:?} in {found:?}"
        );
    }
    assert_eq!(
        app.get(&format!("/v1/feedback/{}", ids[0])).await.json()["rating"],
        1
    );

    // NDJSON: a key left out keeps the record's value, a null clears it.
    let body = format!(
        "{{\"id\": \"{}\", \"rating\": 5}}\n{{\"id\": \"{}\", \"municipalityId\": null}}\n",
        ids[0], ids[1]
    );
    let res = load(
        &app,
        &importer,
        "feedback",
        "application/x-ndjson",
        body.into_bytes(),
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let first = app.get(&format!("/v1/feedback/{}", ids[0])).await.json();
    assert_eq!(
        (&first["rating"], &first["municipalityId"]),
        (&json!(5), &json!("2281"))
    );
    let second = app.get(&format!("/v1/feedback/{}", ids[1])).await.json();
    assert_eq!(
        (&second["rating"], &second["municipalityId"]),
        (&json!(2), &Value::Null)
    );
    assert_eq!(count(&app, "/v1/feedback").await, 2);
}
