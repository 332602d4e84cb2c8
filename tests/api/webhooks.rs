//! Webhooks: subscriptions, and deliveries to real HTTP receivers on 127.0.0.1 (actix-web
//! servers started here) by the dispatcher of one or two replicas. Signatures are checked the
//! way the Standard Webhooks specification tells a receiver to check them, written here from
//! the specification rather than with the service's own code.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use samverkan::auth::Scope;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{TestApp, test_config, violation_fields};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How a receiver answers its n-th request (from 0); 200 beyond the script.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    Sleep(Duration),
}

#[derive(Default)]
struct Inbox {
    script: Vec<Reply>,
    received: Vec<Received>,
}

/// A receiver on 127.0.0.1: records every request and answers as its script says.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Self {
        let inbox = Arc::new(Mutex::new(Inbox {
            script,
            received: Vec::new(),
        }));
        let shared = inbox.clone();
        let server = HttpServer::new(move || {
            let inbox = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let inbox = inbox.clone();
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let reply = {
                        let mut inbox = inbox.lock().expect("inbox");
                        let n = inbox.received.len();
                        inbox.received.push(Received {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: body.to_vec(),
                        });
                        inbox.script.get(n).copied()
                    };
                    match reply {
                        Some(Reply::Status(s)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(s).expect("a status"),
                        )
                        .body("not now"),
                        Some(Reply::Sleep(d)) => {
                            tokio::time::sleep(d).await;
                            HttpResponse::Ok().body("late")
                        }
                        None => HttpResponse::Ok().body("ok"),
                    }
                }
            }))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/hooks/samverkan"),
            inbox,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().expect("inbox").received.clone()
    }
}

/// A Standard Webhooks signature check, written from the specification: the secret after
/// `whsec_` is the base64 of the key; each space-separated `v1,<base64>` entry is the HMAC-SHA256
/// of `id.timestamp.body`; one valid entry suffices; the timestamp must be recent.
fn verified(secret: &str, r: &Received) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
    else {
        return false;
    };
    let Ok(ts) = r.timestamp.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key");
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .any(|entry| entry.strip_prefix("v1,") == Some(expected.as_str()))
}

/// An app whose dispatchers may call 127.0.0.1, with quick retries for the tests.
async fn app() -> TestApp {
    let mut config = test_config();
    config.webhooks.allowed_networks = vec!["127.0.0.1/32".parse().expect("net")];
    config.webhooks.retries = vec![Duration::from_millis(50); 4];
    config.webhooks.timeout = Duration::from_secs(2);
    config.webhooks.lease = Duration::from_secs(5);
    config.webhooks.poll = Duration::from_millis(50);
    TestApp::with_config(config).await
}

/// Subscribes `url` (as a writer); returns the subscription and its secret.
async fn subscribe(app: &TestApp, token: &str, body: Value) -> (Value, String) {
    let res = app
        .call_as(
            token,
            TestRequest::post().uri("/v1/webhooks").set_json(body),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let created = res.json();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    (created["webhook"].clone(), secret)
}

/// Runs the replica's dispatcher until `done` or 20 seconds.
async fn deliver_until(app: &TestApp, done: impl Fn() -> bool) {
    let dispatcher = app.state.dispatcher();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "not delivered within 20 s");
        dispatcher.pass().await.expect("a pass");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn create_area(app: &TestApp, token: &str, name: &str) -> Value {
    let res = app
        .call_as(
            token,
            TestRequest::post()
                .uri("/v1/areas")
                .set_json(json!({"name": name, "description": "Från webhook-testerna."})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()
}

#[actix_web::test]
async fn a_change_is_delivered_signed_as_the_standard_webhooks_specification_says() {
    let app = app().await;
    let receiver = Receiver::start(Vec::new()).await;
    let admin = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let (hook, secret) = subscribe(
        &app,
        &admin,
        json!({"url": receiver.url, "eventTypes": ["area.created", "area.updated"],
               "description": "Intranätet"}),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(hook["eventTypes"], json!(["area.created", "area.updated"]));
    let area = create_area(&app, &admin, "Webhooktest").await;
    deliver_until(&app, || !receiver.received().is_empty()).await;

    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert!(verified(&secret, r), "the signature verifies: {r:?}");
    assert!(r.id.starts_with("msg_"));
    let body = r.json();
    assert_eq!(body["type"], "area.created");
    assert_eq!(body["data"]["id"], area["id"]);
    assert_eq!(body["data"]["name"], "Webhooktest");
    assert!(
        body["timestamp"]
            .as_str()
            .expect("timestamp")
            .ends_with('Z')
    );
    assert!(!verified("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r));

    // The delivery is listed with its attempt.
    let id = hook["id"].as_str().expect("id");
    let deliveries = app
        .call_as(
            &admin,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries")),
        )
        .await
        .json();
    assert_eq!(deliveries["_meta"]["totalRecords"], 1);
    let event = &deliveries["items"][0];
    assert_eq!(event["status"], "delivered");
    assert_eq!(event["eventType"], "area.created");
    assert_eq!(
        r.id,
        format!("msg_{}", event["id"].as_str().expect("id").replace('-', ""))
    );
    let attempts = app
        .call_as(
            &admin,
            TestRequest::get().uri(&format!(
                "/v1/webhooks/{id}/deliveries/{}/attempts",
                event["id"].as_str().expect("id")
            )),
        )
        .await
        .json();
    assert_eq!(attempts["items"][0]["statusCode"], 200);
    assert_eq!(attempts["items"][0]["response"], "ok");
}

#[actix_web::test]
async fn a_failing_receiver_is_retried_and_one_that_is_gone_ends_the_subscription() {
    let app = app().await;
    let receiver = Receiver::start(vec![Reply::Status(503), Reply::Status(500)]).await;
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let (hook, secret) = subscribe(&app, &token, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    create_area(&app, &token, "Tre försök").await;
    deliver_until(&app, || receiver.received().len() >= 3).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3, "two failures, then delivered");
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "the same webhook-id every time"
    );
    assert!(got.iter().all(|r| verified(&secret, r)));
    let deliveries = app
        .call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries")),
        )
        .await
        .json();
    assert_eq!(deliveries["items"][0]["status"], "delivered");
    assert_eq!(deliveries["items"][0]["attempts"], 3);

    // 410 Gone: the subscription is disabled at once, and says why.
    let gone = Receiver::start(vec![Reply::Status(410)]).await;
    let (hook, _) = subscribe(&app, &token, json!({"url": gone.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    create_area(&app, &token, "Borta").await;
    deliver_until(&app, || !gone.received().is_empty()).await;
    let hook = app
        .call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}")),
        )
        .await
        .json();
    assert_eq!(hook["enabled"], false);
    assert!(
        hook["disabledReason"]
            .as_str()
            .expect("reason")
            .contains("410"),
        "{hook}"
    );
    // Nothing more reaches it.
    create_area(&app, &token, "Borta igen").await;
    for _ in 0..5 {
        app.state.dispatcher().pass().await.expect("pass");
    }
    assert_eq!(gone.received().len(), 1);
}

#[actix_web::test]
async fn a_receiver_that_does_not_answer_in_time_is_tried_again() {
    let app = app().await;
    let receiver = Receiver::start(vec![Reply::Sleep(Duration::from_secs(4))]).await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let (hook, _) = subscribe(&app, &token, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let res = app
        .call_as(
            &token,
            TestRequest::post().uri(&format!("/v1/webhooks/{id}/test")),
        )
        .await;
    assert_eq!(res.status, 202, "{}", res.text());
    let event = res.json()["eventId"].as_str().expect("event").to_owned();
    deliver_until(&app, || receiver.received().len() >= 2).await;
    let attempts = app
        .call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries/{event}/attempts")),
        )
        .await
        .json();
    let first = &attempts["items"][0];
    assert_eq!(first["statusCode"], Value::Null);
    assert!(
        first["error"]
            .as_str()
            .expect("error")
            .contains("no answer within"),
        "{first}"
    );
    assert!(first["durationMs"].as_i64() >= Some(1900));
    assert_eq!(attempts["items"][1]["statusCode"], 200);
    assert_eq!(receiver.received()[1].json()["type"], "webhook.test");
}

#[actix_web::test]
async fn the_changes_of_one_record_arrive_in_the_order_they_happened() {
    let app = app().await;
    // The first attempt of each event fails: every event is retried, and still the versions
    // arrive in order.
    let receiver = Receiver::start(vec![Reply::Status(503); 1]).await;
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    subscribe(
        &app,
        &token,
        json!({"url": receiver.url, "eventTypes": ["area.created", "area.updated"]}),
    )
    .await;
    let area = create_area(&app, &token, "Ordning 0").await;
    let id = area["id"].as_str().expect("id").to_owned();
    for n in 1..=5 {
        let current = app.get(&format!("/v1/areas/{id}")).await;
        let etag = current.header("etag").expect("etag").to_owned();
        let res = app
            .call_as(
                &token,
                TestRequest::patch()
                    .uri(&format!("/v1/areas/{id}"))
                    .insert_header(("If-Match", etag))
                    .insert_header(("Content-Type", "application/merge-patch+json"))
                    .set_payload(json!({"name": format!("Ordning {n}")}).to_string()),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    deliver_until(&app, || {
        receiver
            .received()
            .iter()
            .filter(|r| r.json()["data"]["name"] == "Ordning 5")
            .count()
            > 0
    })
    .await;
    let delivered: Vec<i64> = receiver
        .received()
        .iter()
        .skip(1)
        .map(|r| r.json()["data"]["version"].as_i64().expect("version"))
        .collect();
    assert_eq!(delivered, vec![1, 2, 3, 4, 5, 6], "in order, each once");
}

#[actix_web::test]
async fn subscriptions_are_checked_owned_and_their_secret_rotates_with_an_overlap() {
    let app = app().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let other = app.token(&[Scope::Read, Scope::Write], None).await;
    // Refused: not https, a private address, an unknown event type.
    let strict = TestApp::new().await;
    let token = strict.token(&[Scope::Write], None).await;
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:9/h"}), "url"),
        (json!({"url": "https://10.0.0.1/h"}), "url"),
        (json!({"url": "https://169.254.169.254/latest"}), "url"),
        (json!({"url": "ftp://example.se/h"}), "url"),
        (json!({"url": "https://user:pw@example.se/h"}), "url"),
        (
            json!({"url": "https://example.se/h", "eventTypes": ["area.exploded"]}),
            "eventTypes",
        ),
        (
            json!({"url": "https://example.se/h", "municipalityId": "22"}),
            "municipalityId",
        ),
    ] {
        let res = strict
            .call_as(
                &token,
                TestRequest::post().uri("/v1/webhooks").set_json(&body),
            )
            .await;
        let problem = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&problem), [field], "{body}");
    }
    let receiver = Receiver::start(Vec::new()).await;
    let (hook, old) = subscribe(&app, &writer, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    // Another client sees nothing of it.
    let res = app
        .call_as(
            &other,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}")),
        )
        .await;
    assert_eq!(res.status, 404);
    let listed = app
        .call_as(&other, TestRequest::get().uri("/v1/webhooks"))
        .await
        .json();
    assert_eq!(listed["_meta"]["totalRecords"], 0);
    // Rotation: both secrets sign while they overlap.
    let res = app
        .call_as(
            &writer,
            TestRequest::post()
                .uri(&format!("/v1/webhooks/{id}/secrets"))
                .set_json(json!({"overlapHours": 1})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let new = res.json()["secret"].as_str().expect("secret").to_owned();
    let res = app
        .call_as(
            &writer,
            TestRequest::post().uri(&format!("/v1/webhooks/{id}/test")),
        )
        .await;
    assert_eq!(res.status, 202);
    deliver_until(&app, || !receiver.received().is_empty()).await;
    let r = &receiver.received()[0];
    assert_eq!(r.signature.split(' ').count(), 2, "{}", r.signature);
    assert!(verified(&old, r) && verified(&new, r));
    // Changes need If-Match; disabling and enabling again.
    let res = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/webhooks/{id}"))
                .set_json(json!({"enabled": false})),
        )
        .await;
    assert_eq!(res.status, 428);
    let res = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/webhooks/{id}"))
                .insert_header(("If-Match", "\"1\""))
                .set_json(json!({"enabled": false, "description": "Paus"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["enabled"], false);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let res = app
        .call_as(
            &writer,
            TestRequest::delete()
                .uri(&format!("/v1/webhooks/{id}"))
                .insert_header(("If-Match", "\"2\"")),
        )
        .await;
    assert_eq!(res.status, 204);
}

#[actix_web::test]
async fn two_replicas_deliver_a_thousand_events_to_five_subscribers_each_attempt_once() {
    let app = app().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let mut receivers = Vec::new();
    let mut secrets = Vec::new();
    for _ in 0..5 {
        let receiver = Receiver::start(Vec::new()).await;
        let (_, secret) = subscribe(&app, &token, json!({"url": receiver.url})).await;
        receivers.push(receiver);
        secrets.push(secret);
    }
    // 200 changes, one statement: 1 000 events.
    app.execute(
        "INSERT INTO areas (id, name, description) \
         SELECT gen_random_uuid(), 'Område ' || g, 'Från testet.' FROM generate_series(1, 200) g",
    )
    .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let second = app.replica().await;
    let runs = [
        actix_web::rt::spawn(app.state.dispatcher().run(stopped.clone())),
        actix_web::rt::spawn(second.dispatcher().run(stopped)),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = || {
        receivers
            .iter()
            .map(|r| {
                r.received()
                    .iter()
                    .map(|x| x.id.clone())
                    .collect::<HashSet<_>>()
                    .len()
            })
            .sum::<usize>()
    };
    while delivered() < 1000 {
        assert!(
            Instant::now() < deadline,
            "{} of 1000 delivered within 60 s",
            delivered()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for run in runs {
        let _ = run.await;
    }
    for (receiver, secret) in receivers.iter().zip(&secrets) {
        let got = receiver.received();
        let ids: HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 200, "each subscriber gets every change");
        assert_eq!(got.len(), 200, "and each once: no retry was needed");
        assert!(got.iter().all(|r| verified(secret, r)));
    }
    let attempts = app
        .count("SELECT count(*) AS n FROM webhook_attempts")
        .await;
    assert_eq!(attempts, 1000, "one attempt per event, by one replica");
}

#[actix_web::test]
async fn a_replica_killed_mid_delivery_is_covered_by_another_when_its_lease_runs_out() {
    let mut config = test_config();
    config.webhooks.allowed_networks = vec!["127.0.0.1/32".parse().expect("net")];
    config.webhooks.timeout = Duration::from_secs(30);
    config.webhooks.lease = Duration::from_secs(1);
    let app = TestApp::with_config(config).await;
    // The first request hangs (the replica making it dies meanwhile); later ones are answered.
    let receiver = Receiver::start(vec![Reply::Sleep(Duration::from_secs(20))]).await;
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let (hook, secret) = subscribe(&app, &token, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    create_area(&app, &token, "Överlevare").await;
    let doomed = app.state.dispatcher();
    let killed = actix_web::rt::spawn(async move { doomed.pass().await });
    let started = Instant::now();
    while receiver.received().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the first attempt began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.abort();
    let survivor = app.replica().await.dispatcher();
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.received().len() < 2 {
        assert!(Instant::now() < deadline, "another replica took over");
        survivor.pass().await.expect("pass");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.received();
    assert_eq!(
        got[0].id, got[1].id,
        "the same event, recognisable as a duplicate"
    );
    assert!(verified(&secret, &got[1]));
    let deliveries = app
        .call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries")),
        )
        .await
        .json();
    assert_eq!(deliveries["items"][0]["status"], "delivered");
    assert_eq!(deliveries["items"][0]["attempts"], 2);
}

#[actix_web::test]
async fn members_arrive_without_contact_details_and_events_can_be_delivered_again() {
    let app = app().await;
    app.load_demo().await;
    let receiver = Receiver::start(Vec::new()).await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let (hook, secret) = subscribe(
        &app,
        &token,
        json!({"url": receiver.url, "eventTypes": ["member.created"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let res = app
        .call_as(
            &token,
            TestRequest::post()
                .uri("/v1/networks/d1000000-0000-4000-8000-000000000002/members")
                .set_json(json!({"name": "Vera Webb", "email": "vera.webb@example.se",
                                 "phone": "070-123 45 67", "title": "Skolchef",
                                 "municipalityId": "2281"})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    deliver_until(&app, || !receiver.received().is_empty()).await;
    let first = &receiver.received()[0];
    let data = &first.json()["data"];
    assert_eq!(data["name"], "Vera Webb");
    assert!(
        data.get("email").is_none() && data.get("phone").is_none(),
        "{data}"
    );
    assert!(!String::from_utf8_lossy(&first.body).contains("example.se"));

    // Delivered again on request, with the same webhook-id.
    let event = app
        .call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries")),
        )
        .await
        .json()["items"][0]["id"]
        .as_str()
        .expect("event")
        .to_owned();
    let res = app
        .call_as(
            &token,
            TestRequest::post()
                .uri(&format!("/v1/webhooks/{id}/redeliver"))
                .set_json(json!({"eventId": event})),
        )
        .await;
    assert_eq!(res.status, 202, "{}", res.text());
    assert_eq!(res.json()["redelivered"], 1);
    deliver_until(&app, || receiver.received().len() >= 2).await;
    let again = &receiver.received()[1];
    assert_eq!(again.id, first.id);
    assert!(verified(&secret, again));
    // A time range, and what is refused.
    let res = app
        .call_as(
            &token,
            TestRequest::post()
                .uri(&format!("/v1/webhooks/{id}/redeliver"))
                .set_json(json!({"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(res.status, 400, "more than 31 days");
    assert_eq!(violation_fields(&res.json()), ["to"]);
    let res = app
        .call_as(
            &token,
            TestRequest::post()
                .uri(&format!("/v1/webhooks/{id}/redeliver"))
                .set_json(json!({"eventId": event, "from": "2026-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(res.status, 400);
}

#[actix_web::test]
async fn a_subscription_that_fails_for_too_long_is_disabled_and_says_why() {
    let mut config = test_config();
    config.webhooks.allowed_networks = vec!["127.0.0.1/32".parse().expect("net")];
    config.webhooks.retries = vec![Duration::from_millis(100); 20];
    config.webhooks.disable_after = Duration::from_millis(500);
    let app = TestApp::with_config(config).await;
    let receiver = Receiver::start(vec![Reply::Status(500); 100]).await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let (hook, _) = subscribe(&app, &token, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let res = app
        .call_as(
            &token,
            TestRequest::post().uri(&format!("/v1/webhooks/{id}/test")),
        )
        .await;
    assert_eq!(res.status, 202);
    let disabled = || async {
        app.call_as(
            &token,
            TestRequest::get().uri(&format!("/v1/webhooks/{id}")),
        )
        .await
        .json()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        app.state.dispatcher().pass().await.expect("pass");
        let hook = disabled().await;
        if hook["enabled"] == false {
            let reason = hook["disabledReason"].as_str().expect("reason");
            assert!(reason.contains("HTTP 500"), "{reason}");
            break;
        }
        assert!(Instant::now() < deadline, "disabled in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tried = receiver.received().len();
    assert!(tried >= 2, "{tried}");
    // Enabled again, it is tried again (its failures so far forgiven).
    let res = app
        .call_as(
            &token,
            TestRequest::patch()
                .uri(&format!("/v1/webhooks/{id}"))
                .insert_header(("If-Match", "*"))
                .set_json(json!({"enabled": true})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["disabledReason"], Value::Null);
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.state.dispatcher().pass().await.expect("pass");
    assert!(receiver.received().len() > tried);
}

/// The Python receiver of `tests/fixtures/webhooks/receiver.py`, which verifies with the
/// Standard Webhooks reference library (`.ci/run` installs it: `pip install standardwebhooks`).
struct PythonReceiver {
    child: std::process::Child,
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl PythonReceiver {
    fn start(secret_file: &std::path::Path) -> Self {
        use std::io::BufRead;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/receiver.py"
        );
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(secret_file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver (and `pip install standardwebhooks` was done)");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the receiver's port");
        let port = first
            .trim()
            .strip_prefix("port ")
            .unwrap_or_else(|| {
                panic!("the receiver did not start: {first:?} (is standardwebhooks installed?)")
            })
            .to_owned();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let shared = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    shared.lock().expect("lines").push(v);
                }
            }
        });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/hooks"),
            lines,
        }
    }

    fn lines(&self) -> Vec<Value> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn the_standard_webhooks_reference_library_verifies_every_delivery() {
    let app = app().await;
    let dir = std::env::temp_dir().join(format!("samverkan-hook-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("write");
    let receiver = PythonReceiver::start(&secret_file);
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let (hook, secret) = subscribe(&app, &token, json!({"url": receiver.url})).await;
    std::fs::write(&secret_file, &secret).expect("write");
    let id = hook["id"].as_str().expect("id").to_owned();
    for n in 0..5 {
        create_area(&app, &token, &format!("Referens {n}")).await;
    }
    // A rotation: the library accepts a delivery signed with the new key beside the old.
    let res = app
        .call_as(
            &token,
            TestRequest::post()
                .uri(&format!("/v1/webhooks/{id}/secrets"))
                .set_json(json!({"overlapHours": 2})),
        )
        .await;
    let rotated = res.json()["secret"].as_str().expect("secret").to_owned();
    std::fs::write(&secret_file, &rotated).expect("write");
    app.call_as(
        &token,
        TestRequest::post().uri(&format!("/v1/webhooks/{id}/test")),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.lines().len() < 6 {
        if Instant::now() >= deadline {
            let d = app
                .call_as(
                    &token,
                    TestRequest::get().uri(&format!("/v1/webhooks/{id}/deliveries")),
                )
                .await
                .json();
            panic!("{:?}\n{d}", receiver.lines());
        }
        app.state.dispatcher().pass().await.expect("pass");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = receiver.lines();
    assert!(
        lines.iter().all(|l| l["verified"] == true),
        "the library verified each: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["type"] == "webhook.test"),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn a_client_has_at_most_twenty_subscriptions_and_every_subscription_gets_its_turn() {
    let app = app().await;
    let receiver = Receiver::start(Vec::new()).await;
    // Three clients with 20 subscriptions each: more than one fan-out takes (50), so the
    // subscriptions after the first 50 are served only if each gets its turn.
    for client in 0..3 {
        let token = app.token(&[Scope::Read, Scope::Write], None).await;
        for _ in 0..20 {
            subscribe(
                &app,
                &token,
                json!({"url": receiver.url, "eventTypes": ["area.created"]}),
            )
            .await;
        }
        if client == 0 {
            let res = app
                .call_as(
                    &token,
                    TestRequest::post()
                        .uri("/v1/webhooks")
                        .set_json(json!({"url": receiver.url})),
                )
                .await;
            assert_eq!(res.status, 409, "{}", res.text());
            assert!(
                res.json()["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("20")
            );
        }
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_subscriptions")
            .await,
        60
    );
    let admin = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    create_area(&app, &admin, "Turordning").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = actix_web::rt::spawn(app.state.dispatcher().run(stopped));
    let deadline = Instant::now() + Duration::from_secs(30);
    let distinct = || {
        receiver
            .received()
            .iter()
            .map(|r| r.id.clone())
            .collect::<HashSet<_>>()
            .len()
    };
    while distinct() < 60 {
        assert!(
            Instant::now() < deadline,
            "{} of 60 subscriptions served within 30 s",
            distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let _ = run.await;
    assert_eq!(
        app.count("SELECT count(DISTINCT subscription_id) AS n FROM webhook_events")
            .await,
        60
    );
}
