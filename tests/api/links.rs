//! Report links for the board: made by a caller with a token, opened by anyone with the link,
//! in a browser, with no token; expired, revoked, altered or reused links do not open.

use actix_web::test::TestRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use samverkan::app::AppState;
use samverkan::auth::Scope;
use samverkan::auth::keys::SigningKeys;
use samverkan::store::db::Db;
use serde_json::{Value, json};

use crate::support::{self, TestApp, violation_fields};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Creates a link as `token`; returns the link and the path of its URL (`/v1/shared/…`).
async fn share(app: &TestApp, token: &str, body: Value) -> (Value, String) {
    let res = app
        .call_as(
            token,
            TestRequest::post().uri("/v1/report-links").set_json(body),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let created = res.json();
    let url = created["url"].as_str().expect("url").to_owned();
    let path = url
        .split_once("/v1/shared/")
        .map(|(_, token)| format!("/v1/shared/{token}"))
        .expect("a shared URL");
    assert_eq!(
        res.header("location"),
        Some(
            format!(
                "/v1/report-links/{}",
                created["link"]["id"].as_str().expect("id")
            )
            .as_str()
        )
    );
    (created["link"].clone(), path)
}

fn open(path: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .insert_header(("Accept", BROWSER_ACCEPT))
}

#[actix_web::test]
async fn a_board_member_opens_a_shared_report_in_a_browser_without_a_token() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let (link, path) = share(
        &app,
        &writer,
        json!({"report": "annual", "year": 2022, "description": "Till styrelsemötet",
               "expiresAt": "2027-06-30T20:00:00Z"}),
    )
    .await;
    assert_eq!(link["state"], "active");
    assert_eq!(link["format"], "html");
    assert_eq!(link["openCount"], 0);
    assert_eq!(link["reportUrl"], "/v1/reports/annual/2022?format=html");
    assert!(
        link["sharedBy"]
            .as_str()
            .is_some_and(|s| s.starts_with("test client ")),
        "{link}"
    );
    assert!(!link.as_object().expect("object").contains_key("url"));
    // The URL is the service's own, absolute.
    assert!(path.len() == "/v1/shared/".len() + 43, "{path}");

    let res = app.call(open(&path)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("cache-control"), Some("private, no-store"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(res.header("x-robots-tag"), Some("noindex, nofollow"));
    let page = res.text();
    assert!(
        page.contains("<h1>Verksamhetsberättelse 2022</h1>"),
        "{page}"
    );
    let shared_by = link["sharedBy"].as_str().expect("sharedBy");
    assert!(
        page.contains(&format!("Delad av <strong>{shared_by}</strong>")),
        "{page}"
    );
    // 20:00 UTC on 30 June is 22:00 in Sweden (summer time).
    assert!(
        page.contains("Länken gäller till 30 juni 2027 kl. 22:00."),
        "{page}"
    );
    assert!(page.contains("noindex"), "{page}");

    // Counted, and audited as the link's.
    let id = link["id"].as_str().expect("id");
    let res = app
        .call_as(
            &writer,
            TestRequest::get().uri(&format!("/v1/report-links/{id}")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["openCount"], 1);
    assert!(res.json()["lastOpenedAt"].is_string());
    let admin = app.token(&[Scope::Admin], None).await;
    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri(&format!(
                "/v1/audit?resourceType=reportLink&resourceId={id}"
            )),
        )
        .await
        .json();
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("open", format!("link:{id}").as_str())),
        "{audit}"
    );
    assert!(actions.iter().any(|(a, _)| *a == "create"), "{audit}");

    // A link to the JSON opens the JSON, of that report only.
    let (_, path) = share(
        &app,
        &writer,
        json!({"report": "tertial", "year": 2022, "tertial": 3, "format": "json"}),
    )
    .await;
    let res = app.call(TestRequest::get().uri(&path)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let report = res.json();
    assert_eq!(
        (report["year"].clone(), report["tertial"].clone()),
        (json!(2022), json!(3))
    );
}

#[actix_web::test]
async fn altered_revoked_expired_and_reused_links_do_not_open() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let (first, path) = share(
        &app,
        &writer,
        json!({"report": "tertial", "year": 2022, "tertial": 1}),
    )
    .await;
    let (_, other_path) = share(&app, &writer, json!({"report": "annual", "year": 2022})).await;
    assert_eq!(app.call(open(&path)).await.status, 200);

    // One character changed: no such link, and nothing about why.
    let token = path.trim_start_matches("/v1/shared/");
    let last = token.chars().last().expect("a token");
    let altered = format!(
        "/v1/shared/{}{}",
        &token[..42],
        if last == 'A' { 'B' } else { 'A' }
    );
    app.call(TestRequest::get().uri(&altered))
        .await
        .problem(404, "not-found");
    let res = app.call(open(&altered)).await;
    assert_eq!(res.status, 404);
    assert!(res.text().contains("Länken finns inte"), "{}", res.text());
    // Another link's signature under this link's id, and rubbish.
    let other = other_path.trim_start_matches("/v1/shared/");
    let stitched = format!("/v1/shared/{}{}", &token[..22], &other[22..]);
    app.call(TestRequest::get().uri(&stitched))
        .await
        .problem(404, "not-found");
    for rubbish in [
        "/v1/shared/x",
        "/v1/shared/%00",
        "/v1/shared/../reports/annual/2022",
    ] {
        let res = app.call(TestRequest::get().uri(rubbish)).await;
        assert!(
            (400..500).contains(&res.status),
            "{rubbish}: {} {}",
            res.status,
            res.text()
        );
    }
    // The link shows its own report: it cannot be pointed at another.
    let res = app
        .call(TestRequest::get().uri(&format!("{path}?year=2023")))
        .await;
    assert_eq!(
        violation_fields(&res.problem(400, "validation-failed")),
        ["year"]
    );
    let res = app
        .call(TestRequest::get().uri(&format!("{path}?format=csv")))
        .await;
    assert_eq!(
        violation_fields(&res.problem(400, "validation-failed")),
        ["format"]
    );
    // A token is not a bearer token, and a bearer token does not open the report API's way.
    let res = app
        .call_as(token, TestRequest::get().uri("/v1/reports/annual/2022"))
        .await;
    assert_eq!(res.status, 401);

    // Revoked: 410 at once, for a browser in Swedish; listed as revoked.
    let id = first["id"].as_str().expect("id");
    let res = app
        .call_as(
            &writer,
            TestRequest::post().uri(&format!("/v1/report-links/{id}/revoke")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let revoked = res.json();
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["revokedAt"].is_string());
    assert!(
        revoked["revokedBy"]
            .as_str()
            .is_some_and(|s| s.starts_with("client:"))
    );
    // Revoking again changes nothing.
    let again = app
        .call_as(
            &writer,
            TestRequest::post().uri(&format!("/v1/report-links/{id}/revoke")),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["version"], revoked["version"]);
    let p = app
        .call(TestRequest::get().uri(&path))
        .await
        .problem(410, "link-gone");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("revoked")),
        "{p}"
    );
    let res = app.call(open(&path)).await;
    assert_eq!(res.status, 410);
    assert!(
        res.text().contains("Länken har återkallats"),
        "{}",
        res.text()
    );
    let listed = app
        .call_as(
            &writer,
            TestRequest::get().uri("/v1/report-links?state=revoked"),
        )
        .await
        .json();
    assert_eq!(listed["_meta"]["totalRecords"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], id);

    // Expired: 410.
    let (expiring, expiring_path) =
        share(&app, &writer, json!({"report": "annual", "year": 2022})).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    conn.batch_execute(&format!(
        "UPDATE report_links SET created_at = now() - interval '31 days', \
         expires_at = now() - interval '1 day' WHERE id = '{}'",
        expiring["id"].as_str().expect("id")
    ))
    .await
    .expect("age the link");
    let p = app
        .call(TestRequest::get().uri(&expiring_path))
        .await
        .problem(410, "link-gone");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("expired")),
        "{p}"
    );
    let res = app.call(open(&expiring_path)).await;
    assert!(res.text().contains("Länken har gått ut"), "{}", res.text());

    // A new signing key revokes every link: the same database, another key.
    assert_eq!(app.call(open(&other_path)).await.status, 200);
    let rotated = SigningKeys::from_keys(
        ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        Some("next-key".to_owned()),
        None,
    )
    .expect("keys");
    let pool = Db::new(&app.db.url, &app.config.pool).expect("pool");
    let state = AppState::new(pool, &app.config, rotated).expect("app state");
    let res = support::call(&state, TestRequest::get().uri(&other_path)).await;
    res.problem(404, "not-found");
}

#[actix_web::test]
async fn a_caller_manages_its_own_links_and_an_administrator_all() {
    let app = TestApp::new().await;
    let alice = app.token(&[Scope::Read, Scope::Write], None).await;
    let bob = app.token(&[Scope::Read, Scope::Write], Some("2281")).await;
    let admin = app.token(&[Scope::Admin, Scope::Write], None).await;
    let (link, _) = share(&app, &alice, json!({"report": "annual", "year": 2022})).await;
    let id = link["id"].as_str().expect("id");
    share(
        &app,
        &bob,
        json!({"report": "tertial", "year": 2022, "tertial": 2}),
    )
    .await;

    // Bob neither sees nor revokes Alice's link.
    for req in [
        TestRequest::get().uri(&format!("/v1/report-links/{id}")),
        TestRequest::post().uri(&format!("/v1/report-links/{id}/revoke")),
    ] {
        app.call_as(&bob, req).await.problem(404, "not-found");
    }
    let mine = app
        .call_as(&bob, TestRequest::get().uri("/v1/report-links"))
        .await
        .json();
    assert_eq!(mine["_meta"]["totalRecords"], 1, "{mine}");
    assert_eq!(mine["items"][0]["report"], "tertial");
    // The administrator sees both and may revoke either.
    let all = app
        .call_as(&admin, TestRequest::get().uri("/v1/report-links?year=2022"))
        .await
        .json();
    assert_eq!(all["_meta"]["totalRecords"], 2, "{all}");
    let res = app
        .call_as(
            &admin,
            TestRequest::post().uri(&format!("/v1/report-links/{id}/revoke")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // A reader may not share.
    app.call_as(
        &app.reader,
        TestRequest::post()
            .uri("/v1/report-links")
            .set_json(json!({"report": "annual", "year": 2022})),
    )
    .await
    .problem(403, "forbidden");
    let res = app
        .call_as(
            &alice,
            TestRequest::get().uri("/v1/report-links?state=lost&report=weekly&year=1999"),
        )
        .await;
    assert_eq!(
        violation_fields(&res.problem(400, "validation-failed")),
        ["state", "report", "year"]
    );
}

#[actix_web::test]
async fn a_link_is_for_one_report_that_exists_and_for_at_most_a_year() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let refused = async |body: Value| {
        let res = app
            .call_as(
                &writer,
                TestRequest::post().uri("/v1/report-links").set_json(body),
            )
            .await;
        violation_fields(&res.problem(400, "validation-failed"))
    };
    assert_eq!(
        refused(json!({"report": "tertial", "year": 2022})).await,
        ["tertial"]
    );
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "tertial": 1})).await,
        ["tertial"]
    );
    assert_eq!(
        refused(json!({"report": "tertial", "year": 1999, "tertial": 4})).await,
        ["year", "tertial"]
    );
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "expiresAt": "2020-01-01T00:00:00Z"}))
            .await,
        ["expiresAt"]
    );
    let far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "expiresAt": far})).await,
        ["expiresAt"]
    );
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "expiresAt": "2027-01-01 00:00"})).await,
        ["expiresAt"]
    );
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "format": "pdf"})).await,
        ["format"]
    );
    assert_eq!(
        refused(json!({"report": "annual", "year": 2022, "description": "  "})).await,
        ["description"]
    );
    // No plan for 2031, so no annual report to share.
    assert_eq!(
        refused(json!({"report": "annual", "year": 2031})).await,
        ["year"]
    );
    // The default: 30 days.
    let (link, _) = share(&app, &writer, json!({"report": "annual", "year": 2022})).await;
    let expires = chrono::DateTime::parse_from_rfc3339(link["expiresAt"].as_str().expect("at"))
        .expect("an instant");
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "{days}");
}

#[actix_web::test]
async fn a_link_opens_at_most_sixty_times_a_minute() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let (_, path) = share(
        &app,
        &writer,
        json!({"report": "tertial", "year": 2022, "tertial": 1, "format": "json"}),
    )
    .await;
    support::fresh_rate_window().await;
    for n in 1..=60 {
        let res = app.call(TestRequest::get().uri(&path)).await;
        assert_eq!(res.status, 200, "opening {n}: {}", res.text());
    }
    let res = app.call(TestRequest::get().uri(&path)).await;
    res.problem(429, "too-many-requests");
    assert!(res.header("retry-after").is_some());
}

/// A board member's view: a real browser, given only the link, shows the report and who
/// shared it.
#[actix_web::test]
async fn chromium_opens_a_shared_link() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let (link, path) = share(&app, &writer, json!({"report": "annual", "year": 2022})).await;
    let port = app.listen().await;
    let profile = crate::people::tempfile_dir();
    let mut child = std::process::Command::new(support::chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = std::time::Instant::now();
    while child.try_wait().expect("chromium").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("chromium did not finish within 30 s");
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut dom = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut dom)
        .expect("the DOM");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(dom.contains("Verksamhetsberättelse 2022"), "{dom}");
    let shared_by = link["sharedBy"].as_str().expect("sharedBy");
    assert!(
        dom.contains(&format!("Delad av <strong>{shared_by}</strong>")),
        "{dom}"
    );
    assert!(dom.contains("Länken gäller till"), "{dom}");
}
