//! What an attacker or a careless client tries from outside: encoded paths around the gate,
//! NUL bytes and broken encodings, corrupt files, lenient dates, odd tokens, formula cells,
//! crashed idempotent requests, HEAD.

use actix_web::test::TestRequest;
use diesel_async::SimpleAsyncConnection;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use samverkan::auth::Scope;
use serde_json::json;

use crate::security::{request, sample_requests};
use crate::support::{TEST_KID, TestApp, signing_key, test_config, violation_fields};

const SOCIAL: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0004";

/// Spellings of `uri` that a router could read as the same path, or nearly: one letter of each
/// literal segment percent-encoded (lower- and uppercase hex), double-encoded, the case changed,
/// a trailing slash, dot segments. Each is `(uri, decodes to the same path)`.
fn variants(uri: &str) -> Vec<(String, bool)> {
    let segments: Vec<&str> = uri.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(first) = seg.chars().next().filter(|c| c.is_ascii_alphabetic()) else {
            continue;
        };
        let rest = &seg[first.len_utf8()..];
        let with = |replacement: String| {
            let mut s = segments.clone();
            s[i] = &replacement;
            s.join("/")
        };
        let byte = first as u8;
        out.push((with(format!("%{byte:02x}{rest}")), true));
        out.push((with(format!("%{byte:02X}{rest}")), true));
        let last = seg.chars().last().unwrap_or(first) as u8;
        out.push((with(format!("{}%{last:02x}", &seg[..seg.len() - 1])), true));
        out.push((with(format!("%25{byte:02x}{rest}")), false));
        out.push((with(seg.to_uppercase()), false));
    }
    out.push((format!("{uri}/"), false));
    if let Some((head, tail)) = uri.rsplit_once('/') {
        out.push((format!("{head}/./{tail}"), false));
        out.push((format!("{head}/x/../{tail}"), false));
        out.push((format!("{head}/%2e/{tail}"), false));
    }
    out
}

#[actix_web::test]
async fn no_spelling_of_a_path_passes_the_gate_without_a_token() {
    let app = TestApp::new().await;
    let doc = app
        .call(TestRequest::get().uri("/v1/openapi.json"))
        .await
        .json();
    let (target, _) = app.client(&[Scope::Read], None).await;
    let mut checked = 0;
    for (method, uri, scopes) in sample_requests(&doc, target) {
        if scopes.is_none() {
            continue;
        }
        for (variant, same_path) in variants(&uri) {
            let res = app
                .call(
                    request(&method, &variant)
                        .insert_header(("Accept", "text/csv"))
                        .insert_header(("Content-Type", "application/json"))
                        .set_payload("{}"),
                )
                .await;
            checked += 1;
            if same_path {
                // It is the same operation: it needs the same token.
                res.problem(401, "unauthorized");
            } else {
                assert!(
                    matches!(res.status, 400 | 401 | 404 | 405),
                    "{method} {variant}: {} {}",
                    res.status,
                    res.text()
                );
                assert_eq!(
                    res.header("content-type"),
                    Some("application/problem+json"),
                    "{method} {variant}"
                );
            }
        }
    }
    assert!(checked > 500, "{checked} variants");
    // The probes of the report that found the hole, one by one.
    for uri in [
        "/v1/%63lients",
        "/v1/%61udit",
        "/v1/%63hanges",
        "/v1/feedbac%6b",
        "/v1/%72eports/annual/2022",
        "/v1/clients%2F",
    ] {
        let res = app
            .call(
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("Accept", "text/csv")),
            )
            .await;
        assert!(matches!(res.status, 401 | 404), "{uri}: {}", res.status);
        assert!(!res.text().contains("items"), "{uri} leaked data");
    }
    // With a token, an encoded spelling is simply the same request.
    let res = app
        .call_as(&app.reader, TestRequest::get().uri("/v1/%61reas"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[actix_web::test]
async fn head_is_answered_wherever_get_is() {
    let app = TestApp::new().await;
    let head = |uri: &str| {
        TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri(uri)
    };
    let res = app.call_as(&app.reader, head("/v1/areas")).await;
    assert_eq!(res.status, 200);
    assert!(res.header("etag").is_some());
    assert_eq!(res.header("content-type"), Some("application/json"));
    let res = app
        .call_as(&app.reader, head("/v1/municipalities/2281"))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(app.call(head("/health/live")).await.status, 200);
    // HEAD needs what GET needs.
    assert_eq!(app.call(head("/v1/areas")).await.status, 401);
    let writer_only = app.token(&[Scope::Write], None).await;
    assert_eq!(
        app.call_as(&writer_only, head("/v1/areas")).await.status,
        403
    );
    // And where there is no GET, there is no HEAD.
    let res = app.call_as(&app.reader, head("/v1/oauth/token")).await;
    res.problem(405, "method-not-allowed");
}

#[actix_web::test]
async fn nul_and_broken_encodings_are_400_naming_the_field() {
    let app = TestApp::new().await;
    let admin = app
        .token(&[Scope::Admin, Scope::Read, Scope::Write], None)
        .await;
    let importer = app.token(&[Scope::Import], None).await;
    let cases: Vec<(TestRequest, &str, &str)> = vec![
        (
            TestRequest::post()
                .uri("/v1/areas")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(r#"{"name": "Va\u0000tten"}"#),
            "admin",
            "name",
        ),
        (
            TestRequest::post()
                .uri("/v1/areas")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(r#"{"name": "Vatten", "description": "a\u0000"}"#),
            "admin",
            "description",
        ),
        (TestRequest::get().uri("/v1/areas?q=v%00ld"), "admin", "q"),
        (TestRequest::get().uri("/v1/areas?q=%FF%FE"), "admin", "q"),
        (
            TestRequest::get().uri("/v1/areas?sort=na%00me"),
            "admin",
            "sort",
        ),
        (
            TestRequest::get().uri("/v1/municipalities/22%0081"),
            "admin",
            "municipalityId",
        ),
        (
            TestRequest::get().uri("/v1/municipalities/22%FF"),
            "admin",
            "municipalityId",
        ),
        (
            TestRequest::put()
                .uri("/v1/networks/by-external-id/intranet%00/42")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(r#"{"name": "Nät", "kind": "management"}"#),
            "admin",
            "system",
        ),
    ];
    for (req, _, field) in cases {
        let res = app.call_as(&admin, req).await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), vec![field.to_owned()], "{p}");
    }
    // In files: the line and the column.
    let res = app
        .call_as(
            &importer,
            TestRequest::post()
                .uri("/v1/imports/networks")
                .insert_header(("Content-Type", "text/csv"))
                .set_payload("name;kind\nKlar;management\nTrasig\0;management\n"),
        )
        .await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["line"], 3, "{p}");
    assert_eq!(p["violations"][0]["field"], "name", "{p}");
    let res = app
        .call_as(
            &importer,
            TestRequest::post()
                .uri("/v1/imports/networks")
                .insert_header(("Content-Type", "application/x-ndjson"))
                .set_payload(
                    "{\"name\": \"Klar\", \"kind\": \"management\"}\n{\"name\": \"Nät\", \"kind\": \"management\", \"description\": \"x\\u0000\"}\n",
                ),
        )
        .await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["line"], 2, "{p}");
    assert_eq!(p["violations"][0]["field"], "description", "{p}");
    // Nothing of it was written.
    let areas = app.get("/v1/areas?limit=100").await.json();
    assert!(!areas.to_string().contains("Vatten"), "{areas}");
}

#[actix_web::test]
async fn corrupt_csv_is_refused_with_its_line() {
    let app = TestApp::new().await;
    let importer = app.token(&[Scope::Import], None).await;
    let load = |body: &'static str| {
        TestRequest::post()
            .uri("/v1/imports/networks")
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(body)
    };
    for (body, line, field) in [
        (
            "name;kind\nEtt;management\n\"Två;management\nTre;management\n",
            3,
            "body",
        ),
        ("name;kind;name\nEtt;management;Ett\n", 1, "name"),
        ("name;;kind\nEtt;;management\n", 1, "header"),
    ] {
        let res = app.call_as(&importer, load(body)).await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(p["violations"][0]["line"], line, "{body:?}: {p}");
        assert_eq!(p["violations"][0]["field"], field, "{body:?}: {p}");
    }
    let listed = app.get("/v1/networks").await.json();
    assert_eq!(listed["_meta"]["totalRecords"], 0, "nothing was created");
    // A quote inside a properly quoted field is fine.
    let res = app
        .call_as(
            &importer,
            load("name;kind\n\"Nätverket \"\"Unga\"\"\";management\n"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[actix_web::test]
async fn dates_and_instants_are_exactly_rfc_3339() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Write, Scope::Read], None).await;
    let admin = app.token(&[Scope::Admin], None).await;
    let importer = app.token(&[Scope::Import], None).await;
    let assignment = |start: &str| {
        json!({"title": "Datum", "municipalityIds": ["2281"], "areaId": SOCIAL,
               "fundingType": "internal", "startDate": start})
    };
    for bad in [
        "22-01-01",
        "2022-1-1",
        "-0001-01-01",
        "2022-02-30",
        "2022-01-01T00:00:00Z",
    ] {
        let res = app
            .call_as(
                &writer,
                TestRequest::post()
                    .uri("/v1/assignments")
                    .set_json(assignment(bad)),
            )
            .await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), vec!["startDate"], "{bad}: {p}");
    }
    let ok = app
        .call_as(
            &writer,
            TestRequest::post()
                .uri("/v1/assignments")
                .set_json(assignment("2022-01-01")),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    let id = ok.json()["id"].as_str().expect("id").to_owned();
    let res = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/assignments/{id}"))
                .insert_header(("If-Match", "*"))
                .set_json(json!({"endDate": "2022-12-1"})),
        )
        .await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), vec!["endDate"], "{p}");
    for bad in [
        "2026-01-01%2000:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00",
    ] {
        let res = app
            .call_as(
                &admin,
                TestRequest::get().uri(&format!("/v1/audit?from={bad}")),
            )
            .await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), vec!["from"], "{bad}: {p}");
    }
    let res = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/audit?from=2026-01-01T00:00:00%2B01:00"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = app
        .call_as(
            &importer,
            TestRequest::post()
                .uri("/v1/imports/assignments")
                .insert_header(("Content-Type", "text/csv"))
                .set_payload(format!(
                    "title;municipalityIds;areaId;fundingType;startDate\nA;2281;{SOCIAL};internal;2022-1-1\n"
                )),
        )
        .await;
    let p = res.problem(400, "validation-failed");
    assert_eq!(p["violations"][0]["line"], 2, "{p}");
    assert_eq!(p["violations"][0]["field"], "startDate", "{p}");
}

#[actix_web::test]
async fn tokens_from_the_future_or_living_too_long_are_refused() {
    let app = TestApp::new().await;
    let (client, _) = app.client(&[Scope::Read], None).await;
    let key = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        EncodingKey::from_ed_der(signing_key().to_pkcs8_der().expect("der").as_bytes())
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(TEST_KID.to_owned());
    let now = chrono::Utc::now().timestamp();
    let token = |iat: Option<i64>, exp: i64| {
        let mut claims = json!({
            "iss": "samverkan", "aud": "samverkan-api", "sub": client.to_string(),
            "client_id": client.to_string(), "scope": "read",
            "nbf": now - 5, "exp": exp, "jti": uuid::Uuid::new_v4().to_string()
        });
        if let Some(iat) = iat {
            claims["iat"] = json!(iat);
        }
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    };
    let call = |t: String| {
        let app = &app;
        async move {
            app.call_as(&t, TestRequest::get().uri("/v1/areas"))
                .await
                .status
        }
    };
    assert_eq!(call(token(Some(now), now + 600)).await, 200, "the control");
    let ten_years = 10 * 365 * 86_400;
    assert_eq!(
        call(token(Some(now + ten_years), now + ten_years + 600)).await,
        401
    );
    assert_eq!(
        call(token(Some(now + 120), now + 700)).await,
        401,
        "iat ahead"
    );
    assert_eq!(
        call(token(Some(now), now + ten_years)).await,
        401,
        "exp far off"
    );
    assert_eq!(
        call(token(Some(now - 100), now + 3600)).await,
        401,
        "too long"
    );
    assert_eq!(call(token(None, now + 600)).await, 401, "no iat");
    // Within the leeway, a clock slightly ahead is fine.
    assert_eq!(call(token(Some(now + 10), now + 600)).await, 200);
}

#[actix_web::test]
async fn token_budgets_follow_the_canonical_id_and_the_address() {
    let mut config = test_config();
    config.rate_limits.token_failures_per_minute = 5;
    config.rate_limits.token_requests_per_address_per_minute = 12;
    let app = TestApp::with_config(config).await;
    let (id, secret) = app.client(&[Scope::Read], None).await;
    let attempt = |client_id: String, secret: &str, from: &str| {
        TestRequest::post()
            .uri("/v1/oauth/token")
            .peer_addr(from.parse().expect("address"))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            ))
    };
    let simple = id.simple().to_string();
    let spellings = [
        id.to_string(),
        id.to_string().to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        simple.clone(),
        simple.to_uppercase(),
    ];
    // Guesses in every spelling of the id spend one budget.
    crate::support::fresh_rate_window().await;
    let mut statuses = Vec::new();
    for spelling in spellings.iter().cycle().take(9) {
        statuses.push(
            app.call(attempt(spelling.clone(), "wrong", "192.0.2.7:4000"))
                .await
                .status,
        );
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 4], "{statuses:?}");
    let refused = app
        .call(attempt(spellings[3].clone(), "wrong", "192.0.2.7:4000"))
        .await;
    refused.problem(429, "too-many-requests");
    assert!(refused.header("retry-after").is_some());
    // The owner, elsewhere, is not locked out by them.
    let owner = app
        .call(attempt(id.to_string(), &secret, "198.51.100.20:5000"))
        .await;
    assert_eq!(owner.status, 200, "{}", owner.text());
    // One address cannot spread guesses over many ids beyond its own budget.
    let mut last = 0;
    for _ in 0..13 {
        last = app
            .call(attempt(
                uuid::Uuid::new_v4().to_string(),
                "wrong",
                "203.0.113.9:1000",
            ))
            .await
            .status;
    }
    assert_eq!(last, 429, "the address budget");
}

#[actix_web::test]
async fn csv_exports_neutralise_formulas_and_load_back_unchanged() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Write, Scope::Read], None).await;
    let importer = app.token(&[Scope::Import, Scope::Read], None).await;
    for (i, name) in [
        "=HYPERLINK(\"http://evil.example\";\"Klicka\")",
        "+46 60 19 10 00",
        "-Vård",
        "@SUMMA(A1)",
        "'=redan skyddad",
    ]
    .into_iter()
    .enumerate()
    {
        let res = app
            .call_as(
                &writer,
                TestRequest::post().uri("/v1/networks").set_json(json!({
                    "name": name, "kind": "management",
                    "description": "\tflik", "externalSystem": "test", "externalId": format!("n{i}")
                })),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
    }
    let export = app
        .call_as(
            &writer,
            TestRequest::get()
                .uri("/v1/networks")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(export.status, 200);
    let text = export.text();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("header").clone();
    let name_at = headers.iter().position(|h| h == "name").expect("name");
    let description_at = headers
        .iter()
        .position(|h| h == "description")
        .expect("description");
    for record in reader.records() {
        let record = record.expect("record");
        let name = &record[name_at];
        assert!(name.starts_with('\''), "{name:?} is neutralised");
        assert_eq!(&record[description_at], "'\tflik");
    }
    let res = app
        .call_as(
            &importer,
            TestRequest::post()
                .uri("/v1/imports/networks?dryRun=true")
                .insert_header(("Content-Type", "text/csv"))
                .set_payload(text.clone()),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let result = res.json();
    assert_eq!(
        result["unchanged"], 5,
        "the export loads back unchanged: {result}"
    );
    assert_eq!(result["updated"], 0, "{result}");
}

#[actix_web::test]
async fn a_dead_requests_idempotency_key_is_retryable_within_its_lease() {
    let app = TestApp::new().await;
    let admin = app.token(&[Scope::Admin], None).await;
    let post = || {
        TestRequest::post()
            .uri("/v1/areas")
            .insert_header(("Idempotency-Key", "lease-1"))
            .set_json(json!({"name": "Leasat område"}))
    };
    let first = app.call_as(&admin, post()).await;
    assert_eq!(first.status, 201);
    // Make the key look as if its request were still running on another replica, not having
    // written anything yet...
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&app.db.url)
            .await
            .expect("connect");
    conn.batch_execute(
        "UPDATE idempotency_keys SET state = 'running', effect_committed = false, \
         response_status = NULL, response_body = NULL, lease_until = now() + interval '8 seconds' \
         WHERE key = 'lease-1'; DELETE FROM areas WHERE name = 'Leasat område'",
    )
    .await
    .expect("update");
    let busy = app.call_as(&admin, post()).await;
    busy.problem(409, "conflict");
    let retry: u64 = busy
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry), "{retry}");
    // ...and then as if that replica had died: no heartbeat renews the lease.
    conn.batch_execute(
        "UPDATE idempotency_keys SET lease_until = now() - interval '1 second' WHERE key = 'lease-1'",
    )
    .await
    .expect("update");
    let retried = app.call_as(&admin, post()).await;
    assert_eq!(retried.status, 201, "{}", retried.text());
}
