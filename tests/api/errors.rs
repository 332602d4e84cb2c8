//! Every failure is an RFC 9457 problem: unknown routes, wrong methods, bad parameters,
//! database outages; request ids are accepted or generated and always echoed.

use std::time::{Duration, Instant};

use actix_web::test::TestRequest;

use crate::support::{TestApp, call, test_config};

#[actix_web::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::new().await;
    for uri in [
        "/nope",
        "/v1/nope",
        "/v2/municipalities",
        "/v1/municipalities/2281/extra",
    ] {
        let p = app.get(uri).await.problem(404, "not-found");
        assert_eq!(p["instance"], uri);
    }
}

#[actix_web::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::new().await;
    for (req, uri, allow) in [
        (TestRequest::put(), "/v1/municipalities", "GET, HEAD"),
        (
            TestRequest::delete(),
            "/v1/municipalities/2281",
            "GET, HEAD, PATCH",
        ),
        (
            TestRequest::put(),
            "/v1/areas/6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
            "GET, HEAD, PATCH, DELETE",
        ),
        (TestRequest::delete(), "/v1/areas", "GET, HEAD, POST"),
        (TestRequest::delete(), "/v1/plans/2022", "GET, HEAD, PATCH"),
        (TestRequest::post(), "/health/live", "GET, HEAD"),
        (TestRequest::get(), "/v1/oauth/token", "POST"),
        // The summary is its own resource, not a feedback entry called "summary".
        (TestRequest::patch(), "/v1/feedback/summary", "GET, HEAD"),
        (TestRequest::delete(), "/v1/feedback/summary", "GET, HEAD"),
    ] {
        let res = app.call(req.uri(uri)).await;
        res.problem(405, "method-not-allowed");
        assert_eq!(res.header("allow"), Some(allow), "{uri}");
    }
}

#[actix_web::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::new().await;
    let res = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/municipalities/2281")
                .insert_header(("X-Request-Id", "intranet-42")),
        )
        .await;
    assert_eq!(res.header("x-request-id"), Some("intranet-42"));

    let res = app
        .call(
            TestRequest::get()
                .uri("/v1/nope")
                .insert_header(("X-Request-Id", "intranet-43")),
        )
        .await;
    assert_eq!(res.problem(404, "not-found")["requestId"], "intranet-43");

    // An unsafe id is replaced by a generated one.
    let res = app
        .call(
            TestRequest::get()
                .uri("/v1")
                .insert_header(("X-Request-Id", "<script>")),
        )
        .await;
    let generated = res.header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
}

#[actix_web::test]
async fn a_database_outage_is_503_within_the_pool_timeout() {
    let (state, token) = TestApp::unreachable_database(Duration::from_millis(500));
    for uri in [
        "/v1/municipalities",
        "/v1/municipalities/2281",
        "/v1/areas",
        "/v1/plans/2022",
        "/health/ready",
    ] {
        let started = Instant::now();
        let res = call(
            &state,
            TestRequest::get()
                .uri(uri)
                .insert_header(("Authorization", format!("Bearer {token}"))),
        )
        .await;
        let p = res.problem(503, "service-unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{uri} took {:?}",
            started.elapsed()
        );
        assert_eq!(res.header("retry-after"), Some("5"));
        // Nothing internal leaks: no host, port, user or driver message.
        let text = p.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.contains("nobody"),
            "{text}"
        );
    }
    // Liveness does not depend on the database.
    let live = call(&state, TestRequest::get().uri("/health/live")).await;
    assert_eq!(live.status, 200);
    // The API's description is served without a database too.
    let info = call(&state, TestRequest::get().uri("/v1")).await;
    assert_eq!(info.status, 200);
}

#[actix_web::test]
async fn a_full_pool_is_503_saying_the_service_is_busy_not_that_the_database_is_down() {
    let mut config = test_config();
    config.pool.timeout = Duration::from_millis(300);
    let app = TestApp::with_config(config).await;
    // Every connection of the pool (4 here) held elsewhere.
    let mut held = Vec::new();
    for _ in 0..app.config.pool.max_size {
        held.push(app.state.db().conn().await.expect("a connection"));
    }
    let res = app.get("/v1/areas").await;
    let p = res.problem(503, "service-unavailable");
    let detail = p["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("busy"), "{detail}");
    assert!(!detail.contains("not reachable"), "{detail}");
    assert_eq!(res.header("retry-after"), Some("5"));
    drop(held);
    assert_eq!(app.get("/v1/areas").await.status, 200);
}

#[actix_web::test]
async fn connections_the_server_ended_are_replaced_without_an_error() {
    let app = TestApp::new().await;
    // Fill the pool with open connections, then have the server end every one of them, as a
    // restart or a failover does.
    let mut held = Vec::new();
    for _ in 0..app.config.pool.max_size {
        held.push(app.state.db().conn().await.expect("a connection"));
    }
    drop(held);
    let killer = TestApp::new().await;
    let ended = killer
        .count(&format!(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'samverkan' AND pid <> pg_backend_pid()",
            app.db.name
        ))
        .await;
    assert!(ended >= 1, "{ended} connections ended");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 * app.config.pool.max_size {
        let res = app.get("/v1/areas").await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

#[actix_web::test]
async fn malformed_percent_encoding_in_a_query_is_a_400_problem() {
    let app = TestApp::new().await;
    let res = app.get("/v1/municipalities?q=%FF%FE").await;
    // Invalid UTF-8 is decoded lossily; the request still gets a well-formed answer.
    assert!(res.status == 200 || res.status == 400, "{}", res.status);
    if res.status == 400 {
        res.problem(400, "validation-failed");
    }
}

#[actix_web::test]
async fn a_list_names_every_violation_of_its_query_at_once() {
    let app = TestApp::new().await;
    // Unknown and malformed parameters together with the list's own checks (range, sort key,
    // filter value), each named once.
    let res = app
        .get("/v1/assignments?colour=red&limit=0&sort=colour&municipalityId=99&areaId=x")
        .await;
    let problem = res.problem(400, "validation-failed");
    let mut fields = crate::support::violation_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["areaId", "colour", "limit", "municipalityId", "sort"],
        "{problem}"
    );
    // A malformed instant is named with the instant's rule, beside the unknown parameter.
    let res = app.get("/v1/events?from=yesterday&colour=red").await;
    let problem = res.problem(400, "validation-failed");
    let violations = problem["violations"].as_array().expect("violations");
    let from = violations
        .iter()
        .find(|v| v["field"] == "from")
        .expect("from is named");
    assert_eq!(
        from["message"],
        samverkan::rules::dates::INSTANT_MESSAGE,
        "{problem}"
    );
    assert_eq!(violations.len(), 2, "{problem}");
    // Nothing wrong but the unknown parameter: it alone.
    let res = app.get("/v1/events?colour=red").await;
    let fields = crate::support::violation_fields(&res.problem(400, "validation-failed"));
    assert_eq!(fields, ["colour"]);
    // A list that checks its own parameters only after reading (a network's members) refuses
    // the unknown ones first, before it reads anything.
    let res = app
        .get("/v1/networks/d1000000-0000-4000-8000-000000000001/members?colour=red&limit=0")
        .await;
    let fields = crate::support::violation_fields(&res.problem(400, "validation-failed"));
    assert_eq!(fields, ["colour"]);
}
