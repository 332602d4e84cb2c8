//! Requests that stay open long (long polls, exports nobody reads, slow uploads) take no database
//! connection while they wait, and a client can open only so many: ordinary requests keep being
//! answered next to hundreds of them. Over real TCP, against the real server.

use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::future::join_all;
use samverkan::auth::Scope;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{TestApp, service, test_config};

async fn send(port: u16, head: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    stream
}

/// One blocking GET with a deadline, answered with its status and how long it took.
fn timed_get(url: String, token: String) -> (u16, Duration) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let started = Instant::now();
    let status = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

#[actix_web::test]
async fn ordinary_requests_are_answered_next_to_hundreds_of_open_ones() {
    let mut config = test_config();
    // The harness's small pool (4), so that even a few held connections would show.
    config.open_limits.long_polls_per_client = 1000;
    config.open_limits.exports_per_client = 1000;
    config.open_limits.body_idle_timeout = Duration::from_secs(60);
    config.rate_limits.writes_per_minute = 1_000_000;
    let app = TestApp::with_config(config).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    // Enough rows that an export does not fit in the socket buffers.
    conn.batch_execute(
        "INSERT INTO networks (id, name, kind, description) \
         SELECT gen_random_uuid(), 'Nätverk ' || g, 'management', repeat('Beskrivning ', 20) \
         FROM generate_series(1, 3000) g",
    )
    .await
    .expect("networks");
    let head = samverkan::integration::changes::head(&mut conn)
        .await
        .expect("head")
        .encode();
    let port = app.listen().await;
    let token = app.token(&[Scope::Read, Scope::Import], None).await;
    let auth = format!("Authorization: Bearer {token}\r\n");

    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(
            send(
                port,
                &format!("GET /v1/changes?after={head}&wait=30 HTTP/1.1\r\nHost: t\r\n{auth}\r\n"),
                b"",
            )
            .await,
        );
    }
    for _ in 0..50 {
        held.push(
            send(
                port,
                &format!("GET /v1/networks HTTP/1.1\r\nHost: t\r\nAccept: text/csv\r\n{auth}\r\n"),
                b"",
            )
            .await,
        );
    }
    for _ in 0..20 {
        held.push(
            send(
                port,
                &format!(
                    "POST /v1/imports/networks HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n{auth}\r\n"
                ),
                b"name;kind\r\nEtt;management\r\n",
            )
            .await,
        );
    }
    // Let the server take all of them in.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let base = format!("http://127.0.0.1:{port}");
    let checks = std::thread::spawn(move || {
        let mut out = Vec::new();
        for i in 0..30 {
            let path = if i % 3 == 0 {
                "/health/ready"
            } else {
                "/v1/areas"
            };
            out.push((path, timed_get(format!("{base}{path}"), token.clone())));
        }
        out
    })
    .join()
    .expect("checks");
    for (path, (status, took)) in &checks {
        assert_eq!(*status, 200, "{path} answered {status} after {took:?}");
        assert!(*took < Duration::from_secs(3), "{path} took {took:?}");
    }
    // The open requests really were still open, not refused or finished.
    let mut open = 0;
    for stream in &held {
        let mut buf = [0u8; 1];
        if matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            open += 1;
        }
    }
    assert!(
        open >= 220,
        "{open} of 270 still open (the exports may have been sent whole)"
    );
}

#[actix_web::test]
async fn a_client_gets_429_beyond_its_open_long_polls_and_exports() {
    let mut config = test_config();
    config.open_limits.long_polls_per_client = 3;
    config.open_limits.exports_per_client = 2;
    let app = TestApp::with_config(config).await;
    let token = app.token(&[Scope::Read], None).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    let head = samverkan::integration::changes::head(&mut conn)
        .await
        .expect("head")
        .encode();
    let poll = || {
        app.call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/changes?after={head}&wait=2")),
        )
    };
    let answers = join_all((0..4).map(|_| poll())).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let refused = answers.iter().find(|r| r.status == 429).expect("refused");
    refused.problem(429, "too-many-requests");
    assert!(refused.header("retry-after").is_some());
    // Done polling, the client may poll again; another client was never affected.
    assert_eq!(poll().await.status, 200);

    let svc = service(&app.state).await;
    let export = || {
        TestRequest::get()
            .uri("/v1/networks")
            .insert_header(("Accept", "text/csv"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    // Exports count until their body is read to the end (or dropped).
    let first = actix_web::test::call_service(&svc, export()).await;
    let second = actix_web::test::call_service(&svc, export()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = actix_web::test::call_service(&svc, export()).await;
    assert_eq!(third.status().as_u16(), 429);
    drop(first);
    let fourth = actix_web::test::call_service(&svc, export()).await;
    assert_eq!(fourth.status().as_u16(), 200);
    let other = app.token(&[Scope::Read], None).await;
    let res = app
        .call_as(
            &other,
            TestRequest::get()
                .uri("/v1/networks")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with('\u{feff}'), "a CSV export");
}

#[actix_web::test]
async fn a_body_that_stops_arriving_is_408() {
    let mut config = test_config();
    config.open_limits.body_idle_timeout = Duration::from_millis(800);
    let app = TestApp::with_config(config).await;
    let port = app.listen().await;
    let token = app.token(&[Scope::Admin], None).await;
    let mut stream = send(
        port,
        &format!(
            "POST /v1/areas HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 40\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
        "{\"name\": \"Lång".as_bytes(),
    )
    .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        let _ = stream.read_to_end(&mut answer).await;
    })
    .await;
    assert!(read.is_ok(), "the server answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("/problems/request-timeout"), "{text}");
    let areas = app.get("/v1/areas?limit=100").await.text();
    assert!(!areas.contains("Lång"), "nothing was written");
}

#[actix_web::test]
async fn a_client_cannot_hold_more_requests_than_its_share() {
    let mut config = test_config();
    config.open_limits.requests_per_client = 1;
    let app = TestApp::with_config(config).await;
    let port = app.listen().await;
    let token = app.token(&[Scope::Read, Scope::Import], None).await;
    let other = app.token(&[Scope::Read], None).await;
    // A slow upload keeps one request of this client in progress.
    let upload = send(
        port,
        &format!(
            "POST /v1/imports/networks HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
        b"name;kind\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = format!("http://127.0.0.1:{port}/v1/areas");
    let (mine, theirs) = {
        let (base, token, other) = (base.clone(), token.clone(), other.clone());
        std::thread::spawn(move || (timed_get(base.clone(), token), timed_get(base, other)))
            .join()
            .expect("gets")
    };
    assert_eq!(mine.0, 429, "beyond its share");
    assert_eq!(theirs.0, 200, "another client is not affected");
    drop(upload);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = std::thread::spawn(move || timed_get(base, token))
        .join()
        .expect("get");
    assert_eq!(again.0, 200, "a place again once the upload is gone");
}
