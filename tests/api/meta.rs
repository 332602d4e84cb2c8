//! api-info, health, metrics and the docs page.

use actix_web::test::TestRequest;

use samverkan::auth::Scope;

use crate::support::TestApp;

#[actix_web::test]
async fn api_info_links_to_the_spec_and_docs() {
    let app = TestApp::new().await;
    let res = app.get("/v1").await;
    assert_eq!(res.status, 200);
    let info = res.json();
    assert_eq!(info["name"], "Samverkan API");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["links"]["openapi"], "/v1/openapi.json");
    assert_eq!(info["links"]["docs"], "/docs/");
    assert_eq!(info["links"]["self"], "/v1");
}

#[actix_web::test]
async fn health_probes() {
    let app = TestApp::new().await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "UP");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "UP");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::new().await;
    app.get("/v1/municipalities").await;
    app.get("/v1/municipalities/2281").await;
    app.get("/v1/municipalities/9999").await;
    app.get("/does-not-exist").await;
    // Only a client with the metrics scope reads them (a reader's token is 403).
    app.get("/metrics").await.problem(403, "forbidden");
    let unauthenticated = app.call(TestRequest::get().uri("/metrics")).await;
    unauthenticated.problem(401, "unauthorized");
    let prometheus = app.token(&[Scope::Metrics], None).await;
    let res = app
        .call_as(&prometheus, TestRequest::get().uri("/metrics"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.header("content-type")
            .expect("type")
            .starts_with("text/plain")
    );
    let text = res.text();
    for expected in [
        r#"http_requests_total{method="GET",route="/v1/municipalities",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/v1/municipalities/{municipalityId}",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/v1/municipalities/{municipalityId}",status="404"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/v1/municipalities",status="200",le="+Inf"} 1"#,
        "db_pool_connections_max 4",
        "db_pool_connections ",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    // Unknown paths share one label instead of growing the metric without bound.
    assert!(!text.contains("does-not-exist"));

    // A deployment whose port only its own network reaches may open them to anyone.
    let mut config = crate::support::test_config();
    config.metrics_public = true;
    let open = TestApp::with_config(config).await;
    let res = open.call(TestRequest::get().uri("/metrics")).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[actix_web::test]
async fn the_docs_page_is_served_without_internet() {
    let app = TestApp::new().await;
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));
    let page = app.get("/docs/").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from the internet"
    );
    let init = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status, 200);
    let js = init.text();
    assert!(js.contains("/v1/openapi.json"), "{js}");
    assert!(js.contains(r#""validatorUrl": "none""#), "{js}");
    let bundle = app
        .call(TestRequest::get().uri("/docs/swagger-ui-bundle.js"))
        .await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.body.len() > 100_000);
}

#[actix_web::test]
async fn a_problem_type_answers_a_page_that_explains_it() {
    let app = TestApp::new().await;
    // A real problem's `type`, followed as a program and as a browser would, without a token.
    let missing = app
        .get("/v1/areas/00000000-0000-4000-8000-000000000000")
        .await;
    let type_ = missing.problem(404, "not-found")["type"]
        .as_str()
        .expect("type")
        .to_owned();
    let doc = app
        .call(
            TestRequest::get()
                .uri(&type_)
                .insert_header(("Accept", "application/json")),
        )
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text());
    let doc = doc.json();
    assert_eq!(doc["type"], type_.as_str());
    assert_eq!(doc["status"], 404);
    assert_eq!(doc["titleSv"], "Resursen finns inte");
    assert!(doc["resolution"].as_str().is_some_and(|r| !r.is_empty()));
    let page = app
        .call(
            TestRequest::get()
                .uri(&type_)
                .insert_header(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")),
        )
        .await;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = page.text();
    assert!(
        page.contains("Resursen finns inte") && page.contains("Resource not found"),
        "{page}"
    );
    assert!(
        page.contains("Vad du gör:") && page.contains("What to do:"),
        "{page}"
    );

    // The list has every type; each answers.
    let all = app
        .call(
            TestRequest::get()
                .uri("/problems")
                .insert_header(("Accept", "application/json")),
        )
        .await
        .json();
    let all = all.as_array().expect("types");
    assert!(all.len() >= 20, "{}", all.len());
    for t in all {
        let uri = t["type"].as_str().expect("type");
        let res = app.call(TestRequest::get().uri(uri)).await;
        assert_eq!(res.status, 200, "{uri}");
    }
    app.call(TestRequest::get().uri("/problems/no-such-type"))
        .await
        .problem(404, "not-found");
}

#[actix_web::test]
async fn the_doctor_checks_what_the_service_needs_and_changes_nothing() {
    use samverkan::app::doctor::{Status, examine};
    use std::time::Duration;
    let app = TestApp::new().await;
    let dir = crate::people::tempfile_dir();
    let mut config = app.config.clone();
    config.data_dir = dir.clone();
    config.jwt.key_file = None;
    let found = examine(&config, &app.db.url, Duration::from_secs(5)).await;
    let status = |check: &str| {
        found
            .iter()
            .find(|f| f.check == check)
            .unwrap_or_else(|| panic!("no {check} check in {found:?}"))
            .status
    };
    for check in [
        "configuration",
        "database",
        "collation",
        "text search",
        "pg_trgm",
        "clock",
        "migrations",
    ] {
        assert_eq!(status(check), Status::Ok, "{check}: {found:?}");
    }
    // No key yet: a warning, and none is generated.
    assert_eq!(status("signing key"), Status::Warn, "{found:?}");
    assert!(
        !dir.join("jwt-ed25519.pem").exists(),
        "the doctor made a key"
    );
    // A key file that is not a key fails.
    let bad = dir.join("not-a-key.pem");
    std::fs::write(&bad, "not a key").expect("write");
    config.jwt.key_file = Some(bad);
    let found = examine(&config, &app.db.url, Duration::from_secs(5)).await;
    assert!(
        found
            .iter()
            .any(|f| f.check == "signing key" && f.status == Status::Fail),
        "{found:?}"
    );
    // A database nobody answers: the database check fails, nothing past it is claimed.
    let found = examine(
        &config,
        "postgres://postgres@127.0.0.1:1/none",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        found
            .iter()
            .any(|f| f.check == "database" && f.status == Status::Fail),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.check == "migrations"), "{found:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
