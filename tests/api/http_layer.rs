//! The HTTP layer's own refusals (a head too large or malformed, a head that does not arrive)
//! are problem+json like every other error. Raw TCP against the real server.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, test_config};

async fn server(head_timeout: Duration) -> (TestApp, u16) {
    let mut config = test_config();
    config.open_limits.head_timeout = head_timeout;
    let app = TestApp::with_config(config).await;
    let port = app.listen().await;
    (app, port)
}

/// Sends `request` and reads until the server closes (or 10 s pass).
async fn exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The last response in `answer`: its status and its body as JSON.
fn last_problem(answer: &str) -> (u16, serde_json::Value) {
    let start = answer.rfind("HTTP/1.1 ").expect("a response");
    let response = &answer[start..];
    let status = response[9..12].parse().expect("status");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let problem: serde_json::Value = serde_json::from_str(body).expect("problem JSON");
    assert_eq!(problem["status"], status, "{problem}");
    assert!(problem["requestId"].is_string(), "{problem}");
    (status, problem)
}

#[actix_web::test]
async fn oversized_and_malformed_heads_are_problems() {
    let (_app, port) = server(Duration::from_secs(5)).await;
    let long_query = format!(
        "GET /v1/areas?q={} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(100_000)
    );
    let (status, p) = last_problem(&exchange(port, long_query.as_bytes()).await);
    assert_eq!(status, 400, "{p}");
    let mut many = String::from("GET /v1 HTTP/1.1\r\nHost: t\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-Extra-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let (status, p) = last_problem(&exchange(port, many.as_bytes()).await);
    assert_eq!(status, 431, "{p}");
    assert_eq!(p["type"], "/problems/request-header-fields-too-large");
    let large = format!(
        "GET /v1 HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(140_000)
    );
    let (status, _) = last_problem(&exchange(port, large.as_bytes()).await);
    assert_eq!(status, 431);
    let (status, p) = last_problem(&exchange(port, b"GARBAGE\r\n\r\n").await);
    assert_eq!(status, 400, "{p}");
}

#[actix_web::test]
async fn a_bad_request_after_a_good_one_keeps_the_order() {
    let (_app, port) = server(Duration::from_secs(5)).await;
    let answer = exchange(
        port,
        b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\nGET /health/live HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, _) = last_problem(&answer);
    assert_eq!(status, 400);
    // Good requests on a kept-alive connection are untouched.
    let answer = exchange(
        port,
        b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\nGET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
}

#[actix_web::test]
async fn a_head_that_does_not_arrive_in_time_is_408() {
    let (_app, port) = server(Duration::from_millis(700)).await;
    // Nothing at all.
    let (status, p) = last_problem(&exchange(port, b"").await);
    assert_eq!(status, 408, "{p}");
    assert_eq!(p["type"], "/problems/request-timeout");
    // Half a head.
    let (status, _) = last_problem(&exchange(port, b"GET /v1 HTTP/1.1\r\nHo").await);
    assert_eq!(status, 408);
}

#[actix_web::test]
async fn a_refused_connection_is_closed_even_if_the_client_stays() {
    let (_app, port) = server(Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    // exchange() never closes its side: the server must.
    let (status, _) = last_problem(&exchange(port, b"GARBAGE\r\n\r\n").await);
    assert_eq!(status, 400);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}
