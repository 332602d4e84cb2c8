//! Integration semantics across replicas: no lost update, no duplicate, no missed change.
//! Each test runs two instances of the app (two pools, as two replicas) on one database.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::future::join_all;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{TestApp, call_on, service};

const SOCIAL: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003";

fn assignment(title: &str) -> Value {
    json!({"title": title, "municipalityIds": ["2281"], "areaId": SOCIAL, "fundingType": "internal", "budgetSek": 0})
}

#[actix_web::test]
async fn concurrent_read_modify_write_loses_no_update() {
    let mut config = crate::support::test_config();
    config.rate_limits.writes_per_minute = 1_000_000;
    let app = TestApp::with_config(config).await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let second = app.replica().await;
    let replicas = [service(&app.state).await, service(&second).await];
    let auth = format!("Bearer {token}");
    let created = call_on(
        &replicas[0],
        TestRequest::post()
            .uri("/v1/assignments")
            .insert_header(("Authorization", auth.clone()))
            .set_json(assignment("Räknare")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let uri = format!(
        "/v1/assignments/{}",
        created.json()["id"].as_str().expect("id")
    );

    // Without If-Match the write is refused.
    let res = call_on(
        &replicas[1],
        TestRequest::patch()
            .uri(&uri)
            .insert_header(("Authorization", auth.clone()))
            .set_json(json!({"budgetSek": 1})),
    )
    .await;
    res.problem(428, "precondition-required");

    let retries = std::cell::Cell::new(0u32);
    let increments = (0..100).map(|i| {
        let (svc, auth, uri, retries) = (&replicas[i % 2], auth.clone(), uri.clone(), &retries);
        async move {
            loop {
                let current = call_on(
                    svc,
                    TestRequest::get()
                        .uri(&uri)
                        .insert_header(("Authorization", auth.clone())),
                )
                .await;
                let etag = current.header("etag").expect("etag").to_owned();
                let budget = current.json()["budgetSek"].as_i64().expect("budget");
                let res = call_on(
                    svc,
                    TestRequest::patch()
                        .uri(&uri)
                        .insert_header(("Authorization", auth.clone()))
                        .insert_header(("If-Match", etag))
                        .set_json(json!({"budgetSek": budget + 1})),
                )
                .await;
                match res.status {
                    200 => return,
                    412 => retries.set(retries.get() + 1),
                    other => panic!("unexpected {other}: {}", res.text()),
                }
            }
        }
    });
    join_all(increments).await;
    let last = call_on(
        &replicas[0],
        TestRequest::get()
            .uri(&uri)
            .insert_header(("Authorization", auth)),
    )
    .await
    .json();
    assert_eq!(last["budgetSek"], 100, "after {} retries", retries.get());
    assert_eq!(last["version"], 101);
    assert!(retries.get() > 0, "the test should have produced conflicts");
}

#[actix_web::test]
async fn an_idempotency_key_gives_exactly_one_resource() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let second = app.replica().await;
    let replicas = [service(&app.state).await, service(&second).await];
    let post = |key: &str, body: Value| {
        TestRequest::post()
            .uri("/v1/assignments")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Idempotency-Key", key.to_owned()))
            .set_json(body)
    };
    let answers = join_all(
        (0..50).map(|i| call_on(&replicas[i % 2], post("push-42", assignment("Idempotent")))),
    )
    .await;
    let mut ids = std::collections::HashSet::new();
    let mut bodies = std::collections::HashSet::new();
    for res in &answers {
        match res.status {
            201 => {
                ids.insert(res.json()["id"].as_str().expect("id").to_owned());
                bodies.insert(res.body.clone());
            }
            409 => {
                res.problem(409, "conflict");
            }
            other => panic!("unexpected {other}: {}", res.text()),
        }
    }
    assert_eq!(ids.len(), 1, "one resource, answered identically");
    assert_eq!(bodies.len(), 1, "replays are byte for byte");
    let listed = call_on(
        &replicas[0],
        TestRequest::get()
            .uri("/v1/assignments?q=Idempotent")
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await
    .json();
    assert_eq!(listed["_meta"]["totalRecords"], 1);

    // A later retry replays the stored answer.
    let replay = call_on(&replicas[1], post("push-42", assignment("Idempotent"))).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert!(replay.header("location").is_some());
    assert_eq!(Some(&replay.body), bodies.iter().next());
    // The same key with another request is refused.
    call_on(&replicas[0], post("push-42", assignment("Something else")))
        .await
        .problem(422, "idempotency-key-reused");
    // Another client's key space is its own.
    let other = app.token(&[Scope::Write], None).await;
    let res = call_on(
        &replicas[0],
        TestRequest::post()
            .uri("/v1/assignments")
            .insert_header(("Authorization", format!("Bearer {other}")))
            .insert_header(("Idempotency-Key", "push-42"))
            .set_json(assignment("Idempotent")),
    )
    .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.header("idempotent-replayed"), None);
    // A failed (4xx) outcome is also replayed, a malformed key refused.
    let bad = call_on(&replicas[0], post("bad-1", json!({"title": ""}))).await;
    bad.problem(400, "validation-failed");
    let again = call_on(&replicas[1], post("bad-1", json!({"title": ""}))).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.status, 400);
    call_on(&replicas[0], post("with space", assignment("x")))
        .await
        .problem(400, "validation-failed");
}

#[actix_web::test]
async fn pushes_by_external_id_are_repeatable() {
    let app = TestApp::new().await;
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let put = |body: Value| {
        TestRequest::put()
            .uri("/v1/networks/by-external-id/timra-intranat/N-17")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(body)
    };
    let body = json!({"name": "HR-nätverket", "kind": "staff", "municipalityIds": ["2262"]});
    let first = app.call(put(body.clone())).await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["externalSystem"], "timra-intranat");
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    let counts = async |conn: &mut AsyncPgConnection| -> (i64, i64) {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            a: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            c: i64,
        }
        let n: N = diesel::sql_query(
            "SELECT (SELECT count(*) FROM audit_log) AS a, (SELECT count(*) FROM changes) AS c",
        )
        .get_result(conn)
        .await
        .expect("counts");
        (n.a, n.c)
    };
    let before = counts(&mut conn).await;
    let second = app.call(put(body.clone())).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["version"], 1, "no new version");
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(
        counts(&mut conn).await,
        before,
        "no audit entry, no feed entry"
    );
    let changed = app.call(put(json!({"name": "HR-nätverket", "kind": "staff", "municipalityIds": ["2262"], "status": "archived"}))).await;
    assert_eq!(changed.json()["version"], 2);
    let listed = app
        .get("/v1/networks?externalSystem=timra-intranat&externalId=N-17")
        .await
        .json();
    assert_eq!(listed["_meta"]["totalRecords"], 1);
    let p = app
        .call(put(
            json!({"name": "X", "kind": "staff", "externalId": "N-18"}),
        ))
        .await
        .problem(400, "validation-failed");
    assert_eq!(crate::support::violation_fields(&p), ["externalId"]);
    // Concurrent first pushes of one record create it once.
    let svc = service(&app.state).await;
    let racers = (0..10).map(|_| {
        call_on(
            &svc,
            TestRequest::put()
                .uri("/v1/networks/by-external-id/timra-intranat/N-99")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .set_json(json!({"name": "Racenätverket", "kind": "staff"})),
        )
    });
    let statuses: Vec<u16> = join_all(racers).await.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
}

/// Mirrors the feed into a map of id → version, as an intranet would.
fn apply(mirror: &mut HashMap<String, i64>, page: &Value) {
    for change in page["items"].as_array().expect("items") {
        if change["type"] != "network" {
            continue;
        }
        let id = change["id"].as_str().expect("id").to_owned();
        match change["op"].as_str() {
            Some("delete") => {
                mirror.remove(&id);
            }
            _ => {
                mirror.insert(id, change["version"].as_i64().expect("version"));
            }
        }
    }
}

#[actix_web::test]
async fn the_change_feed_misses_nothing_under_concurrent_writers() {
    let app = TestApp::new().await;
    let second = app.replica().await;
    let replicas = [service(&app.state).await, service(&second).await];
    let auth = format!("Bearer {}", app.reader);
    let url = app.db.url.clone();
    // Eight writers on their own connections, committing out of order (random delays inside
    // their transactions), creating, changing and deleting networks.
    let writers = (0..8).map(|w| {
        let url = url.clone();
        async move {
            let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
            for i in 0..15 {
                let delay = (w * 7 + i * 13) % 40;
                let op = match i % 5 {
                    0..=2 => format!("INSERT INTO networks (id, name, kind) VALUES (gen_random_uuid(), 'Nätverk {w}-{i}', 'staff')"),
                    3 => format!("UPDATE networks SET description = 'ändrad {i}' WHERE id = (SELECT id FROM networks WHERE name LIKE 'Nätverk {w}-%' ORDER BY random() LIMIT 1)"),
                    _ => format!("DELETE FROM networks WHERE id = (SELECT id FROM networks WHERE name LIKE 'Nätverk {w}-%' ORDER BY random() LIMIT 1)"),
                };
                conn.batch_execute(&format!("BEGIN; {op}; SELECT pg_sleep({delay} / 1000.0); COMMIT;"))
                    .await
                    .expect("write");
            }
        }
    });
    let done = std::cell::Cell::new(false);
    let poller = async {
        let mut mirror = HashMap::new();
        let mut cursor = String::new();
        let mut polls = 0;
        loop {
            let finished = done.get();
            let uri = if cursor.is_empty() {
                "/v1/changes?limit=7".to_owned()
            } else {
                format!("/v1/changes?limit=7&after={cursor}")
            };
            let page = call_on(
                &replicas[polls % 2],
                TestRequest::get()
                    .uri(&uri)
                    .insert_header(("Authorization", auth.clone())),
            )
            .await;
            assert_eq!(page.status, 200, "{}", page.text());
            let page = page.json();
            apply(&mut mirror, &page);
            cursor = page["nextCursor"].as_str().expect("nextCursor").to_owned();
            polls += 1;
            if finished && page["items"].as_array().expect("items").is_empty() {
                return (mirror, polls);
            }
            actix_web::rt::time::sleep(Duration::from_millis(3)).await;
        }
    };
    let writing = async {
        join_all(writers).await;
        done.set(true);
    };
    let ((mirror, polls), ()) = tokio::join!(poller, writing);

    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        version: i64,
    }
    let rows: Vec<Row> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT id::text, version FROM networks"),
        &mut conn,
    )
    .await
    .expect("networks");
    let truth: HashMap<String, i64> = rows.into_iter().map(|r| (r.id, r.version)).collect();
    let missing = truth.keys().filter(|k| !mirror.contains_key(*k)).count();
    let stale = truth
        .iter()
        .filter(|(k, v)| mirror.get(*k).is_some_and(|m| m != *v))
        .count();
    let ghosts = mirror.keys().filter(|k| !truth.contains_key(*k)).count();
    assert_eq!(
        (missing, stale, ghosts),
        (0, 0, 0),
        "after {polls} polls: {} rows",
        truth.len()
    );
    assert!(truth.len() > 20);
}

#[actix_web::test]
async fn the_feed_starts_with_everything_filters_types_and_expires_old_cursors() {
    let app = TestApp::new().await;
    let w = app.token(&[Scope::Read, Scope::Write], None).await;
    let all = app.get("/v1/changes?limit=1000").await.json();
    let types: std::collections::HashSet<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["type"].as_str().expect("type"))
        .collect();
    assert!(
        types.contains("municipality") && types.contains("area") && types.contains("plan"),
        "{types:?}"
    );
    let head = all["nextCursor"].as_str().expect("cursor").to_owned();

    let created = app
        .call_as(
            &w,
            TestRequest::post()
                .uri("/v1/networks")
                .set_json(json!({"name": "Flyktigt nätverk", "kind": "staff"})),
        )
        .await
        .json();
    let id = created["id"].as_str().expect("id");
    app.call_as(
        &w,
        TestRequest::delete()
            .uri(&format!("/v1/networks/{id}"))
            .insert_header(("If-Match", "\"1\"")),
    )
    .await;
    let page = app
        .get(&format!("/v1/changes?after={head}&types=network"))
        .await
        .json();
    let ops: Vec<(&str, i64)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["op"].as_str().expect("op"),
                c["version"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(ops, [("upsert", 1), ("delete", 2)]);
    assert_eq!(page["items"][0]["data"]["name"], "Flyktigt nätverk");
    assert_eq!(page["items"][1]["data"], Value::Null);
    let none = app
        .get(&format!("/v1/changes?after={head}&types=assignment"))
        .await
        .json();
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["nextCursor"], head, "an empty answer keeps the cursor");
    app.get("/v1/changes?after=garbage")
        .await
        .problem(400, "validation-failed");
    app.get("/v1/changes?types=secrets")
        .await
        .problem(400, "validation-failed");

    // Purge the tombstone: the cursor from before it is now too old.
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    let removed = samverkan::integration::changes::purge(&mut conn, Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(removed, 2);
    app.get(&format!("/v1/changes?after={head}"))
        .await
        .problem(410, "cursor-expired");
    // A long poll is told the same, even though nothing newer than its cursor is left to read
    // and the replica already knows the feed's head (its probe runs once a long poll asked).
    app.get("/v1/changes?limit=1&wait=1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.get(&format!("/v1/changes?after={head}&wait=2"))
        .await
        .problem(410, "cursor-expired");
    assert_eq!(
        app.get("/v1/changes").await.status,
        200,
        "a fresh sync works"
    );
}

#[actix_web::test]
async fn a_long_poll_wakes_on_a_change_from_another_replica() {
    let app = TestApp::new().await;
    let other = app.replica().await;
    let w = app.token(&[Scope::Read, Scope::Write], None).await;
    let head = app.get("/v1/changes?limit=1000").await.json()["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let waiting = app.call_as(
        &w,
        TestRequest::get().uri(&format!("/v1/changes?after={head}&wait=10")),
    );
    let writing = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let res = crate::support::call(
            &other,
            TestRequest::post()
                .uri("/v1/areas")
                .insert_header((
                    "Authorization",
                    format!("Bearer {}", app.token(&[Scope::Admin], None).await),
                ))
                .set_json(json!({"name": "Väckarklockan"})),
        )
        .await;
        assert_eq!(res.status, 201, "{}", res.text());
        started
    };
    let (res, started) = tokio::join!(waiting, writing);
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["items"][0]["data"]["name"], "Väckarklockan");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woke after {:?}",
        started.elapsed()
    );
    // With nothing new, the wait ends empty at its deadline.
    let head = res.json()["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let started = Instant::now();
    let empty = app.get(&format!("/v1/changes?after={head}&wait=1")).await;
    assert_eq!(empty.json()["items"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[actix_web::test]
async fn every_pushable_resource_upserts_by_external_id() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let put = async |uri: &str, body: Value| {
        app.call_as(&token, TestRequest::put().uri(uri).set_json(body))
            .await
    };
    let network = put(
        "/v1/networks/by-external-id/sys/n1",
        json!({"name": "Nätverket", "kind": "staff"}),
    )
    .await;
    assert_eq!(network.status, 201, "{}", network.text());
    let nid = network.json()["id"].as_str().expect("id").to_owned();
    let mut assignment_body = assignment("Pushat uppdrag");
    assignment_body["status"] = json!("ongoing");
    let cases = [
        (
            "/v1/assignments/by-external-id/sys/a1".to_owned(),
            assignment_body,
        ),
        (
            "/v1/feedback/by-external-id/sys/f1".to_owned(),
            json!({"year": 2022, "goal": "core", "networkId": nid, "rating": 4}),
        ),
        (
            format!("/v1/networks/{nid}/members/by-external-id/sys/m1"),
            json!({"name": "Karin Ek", "title": "Samordnare"}),
        ),
    ];
    for (uri, body) in &cases {
        let first = put(uri, body.clone()).await;
        assert_eq!(first.status, 201, "{uri}: {}", first.text());
        let again = put(uri, body.clone()).await;
        assert_eq!(again.status, 200, "{uri}: {}", again.text());
        assert_eq!(
            again.json()["version"],
            1,
            "{uri}: a repeated push changes nothing"
        );
        assert_eq!(again.json()["id"], first.json()["id"]);
    }
    let aid = put(&cases[0].0, cases[0].1.clone()).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let report = json!({"year": 2022, "tertial": 1, "summary": "Pushat.", "spentSek": 5, "forecastSek": 10, "deviation": "none"});
    let uri = format!("/v1/assignments/{aid}/reports/by-external-id/sys/r1");
    assert_eq!(put(&uri, report.clone()).await.status, 201);
    let again = put(&uri, report.clone()).await;
    assert_eq!(
        (again.status, again.json()["version"].clone()),
        (200, json!(1))
    );
    let mut moved = report.clone();
    moved["tertial"] = json!(2);
    put(&uri, moved).await.problem(400, "validation-failed");
    // Found again through the list filters.
    let found = app
        .get("/v1/feedback?externalSystem=sys&externalId=f1")
        .await
        .json();
    assert_eq!(found["_meta"]["totalRecords"], 1);
}

#[actix_web::test]
async fn a_long_poll_may_wait_longer_than_the_request_timeout() {
    let mut config = crate::support::test_config();
    config.request_timeout = Duration::from_secs(1);
    let app = TestApp::with_config(config).await;
    let head = app.get("/v1/changes?limit=1000").await.json()["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let started = Instant::now();
    let res = app.get(&format!("/v1/changes?after={head}&wait=2")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["items"], json!([]));
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited");
}

/// A write whose `Idempotency-Key` was taken over by a retry while it ran (its lease presumed
/// dead) rolls back at commit instead of happening twice: the mark of the key's effect names
/// the attempt that holds the lease.
#[actix_web::test]
async fn a_write_that_lost_its_idempotency_lease_rolls_back() {
    use samverkan::integration::audit::Actor;
    use samverkan::integration::idempotency::IdempotencyKey;
    use samverkan::integration::work::{Change, Work};

    let app = TestApp::new().await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    let client = uuid::Uuid::new_v4();
    let (first, retry) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    // The retry holds the key now.
    conn.batch_execute(&format!(
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, state, lease_until, attempt) \
         VALUES ('{client}', 'k-1', 'fp', 'running', now() + interval '10 seconds', '{retry}')"
    ))
    .await
    .expect("the retry's claim");
    let area = uuid::Uuid::new_v4();
    let url = app.db.url.clone();
    let write = |attempt: uuid::Uuid| {
        let key = IdempotencyKey::new(client, "k-1", attempt);
        let url = url.clone();
        async move {
            let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
            Work::run_on(
                &mut conn,
                Actor::command_line(),
                None,
                Some(key),
                async |work| {
                    work.conn()
                        .batch_execute(&format!(
                            "INSERT INTO areas (id, name) VALUES ('{area}', 'Förlorad nyckel')"
                        ))
                        .await?;
                    let id = area.to_string();
                    work.record(Change {
                        action: "create",
                        kind: "area",
                        id: &id,
                        before: None,
                        after: None,
                    })
                    .await
                },
            )
            .await
        }
    };
    let lost = write(first).await;
    assert!(
        matches!(lost, Err(samverkan::error::ApiError::Conflict(_))),
        "{lost:?}"
    );
    let res = app.get(&format!("/v1/areas/{area}")).await;
    assert_eq!(res.status, 404, "the write was rolled back");
    // The attempt that holds the lease commits.
    write(retry).await.expect("the holder's write");
    assert_eq!(app.get(&format!("/v1/areas/{area}")).await.status, 200);
}

#[actix_web::test]
async fn the_feed_is_written_per_statement_and_shows_records_as_the_api_does() {
    let app = TestApp::new().await;
    app.load_demo().await;
    // One record of each type written in a session set to Swedish time: the feed still writes
    // its times as the API does (UTC, `Z`).
    app.execute(
        "SET TIME ZONE 'Europe/Stockholm'; \
         UPDATE areas SET description = description || ' (uppdaterad)' \
         WHERE id = (SELECT id FROM areas ORDER BY name LIMIT 1)",
    )
    .await;
    // The feed's record of each type is the API's record: every member of `data` is the same
    // value as in the record read from the API (times included).
    let mut latest: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = app
            .get(&format!("/v1/changes?limit=1000{after}"))
            .await
            .json();
        let items = page["items"].as_array().expect("items").clone();
        if items.is_empty() {
            break;
        }
        for change in items {
            if change["op"] == "upsert" {
                let kind = change["type"].as_str().expect("type").to_owned();
                latest.insert(kind, change);
            }
        }
        after = format!(
            "&after={}",
            page["nextCursor"].as_str().expect("nextCursor")
        );
    }
    assert_eq!(latest.len(), 10, "{:?}", latest.keys());
    for (kind, change) in &latest {
        let data = &change["data"];
        let id = change["id"].as_str().expect("id");
        let url = match kind.as_str() {
            "municipality" => format!("/v1/municipalities/{id}"),
            "area" => format!("/v1/areas/{id}"),
            "plan" => format!("/v1/plans/{id}"),
            "network" => format!("/v1/networks/{id}"),
            "member" => format!(
                "/v1/networks/{}/members/{id}",
                data["networkId"].as_str().expect("networkId")
            ),
            "assignment" => format!("/v1/assignments/{id}"),
            "progress_report" => format!(
                "/v1/assignments/{}/reports/{id}",
                data["assignmentId"].as_str().expect("assignmentId")
            ),
            "feedback" => format!("/v1/feedback/{id}"),
            "event" => format!("/v1/events/{id}"),
            "registration" => format!(
                "/v1/events/{}/registrations/{id}",
                data["eventId"].as_str().expect("eventId")
            ),
            other => panic!("a feed type no test reads: {other}"),
        };
        let record = app.get(&url).await;
        assert_eq!(record.status, 200, "{url}: {}", record.text());
        let record = record.json();
        for (key, value) in data.as_object().expect("data") {
            assert_eq!(
                &record[key], value,
                "{kind} {id}: {key} in the feed and in the API"
            );
        }
        let created = data["createdAt"].as_str().expect("createdAt");
        assert!(created.ends_with('Z'), "{kind}: {created}");
    }
    // Each table's generated conversion has the members the generic one has, for every row: a
    // column added without `samverkan_feed_install` being run again would show here.
    for (table, resource) in [
        ("municipalities", "municipality"),
        ("areas", "area"),
        ("plans", "plan"),
        ("networks", "network"),
        ("network_members", "member"),
        ("assignments", "assignment"),
        ("progress_reports", "progress_report"),
        ("feedback", "feedback"),
        ("events", "event"),
        ("registrations", "registration"),
    ] {
        let rows = app
            .count(&format!("SELECT count(*) AS n FROM {table}"))
            .await;
        assert!(rows > 0, "the demo data has {table}");
        let differing = app
            .count(&format!(
                "SELECT count(*) AS n FROM {table} t \
                 WHERE ARRAY(SELECT jsonb_object_keys({table}_api_json(t)) ORDER BY 1) \
                       IS DISTINCT FROM ARRAY(SELECT jsonb_object_keys(samverkan_api_json(to_jsonb(t), '{resource}')) ORDER BY 1)"
            ))
            .await;
        assert_eq!(
            differing, 0,
            "{table}: the feed's record has other members than the table's columns"
        );
    }
    let feed = |filter: &str| {
        format!("SELECT count(*) AS n FROM changes WHERE resource_type = 'feedback' AND {filter}")
    };
    let total = app.count("SELECT count(*) AS n FROM feedback").await;
    let before = app.count(&feed("true")).await;

    // One statement over every row that changes nothing writes nothing.
    app.execute("UPDATE feedback SET rating = rating").await;
    assert_eq!(app.count(&feed("true")).await, before);

    // One statement changing some rows writes one entry per changed row, at its new version.
    app.execute("UPDATE feedback SET comment = comment || ' (rättad)' WHERE rating <= 2")
        .await;
    let changed = app
        .count("SELECT count(*) AS n FROM feedback WHERE rating <= 2")
        .await;
    assert!(changed > 0 && changed < total, "{changed} of {total}");
    assert_eq!(app.count(&feed("true")).await, before + changed);
    assert_eq!(
        app.count(&format!(
            "{} AND c.seq > (SELECT max(seq) FROM changes) - {changed} \
             AND (c.version, c.data) = (f.version, feedback_api_json(f))",
            "SELECT count(*) AS n FROM changes c JOIN feedback f ON f.id::text = c.resource_id WHERE c.op = 'upsert'"
        ))
        .await,
        changed,
        "each entry holds its record's new version and content"
    );
    let listed = app.get("/v1/feedback?limit=100").await.json();
    let one = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|f| f["rating"].as_i64().is_some_and(|r| r <= 2))
        .expect("a low rating among the first 100")
        .clone();
    let id = one["id"].as_str().expect("id");
    let entry = app
        .count(&format!(
            "SELECT count(*) AS n FROM changes WHERE resource_id = '{id}' \
             AND data->>'comment' LIKE '% (rättad)' AND (data->>'version')::bigint = {}",
            one["version"]
        ))
        .await;
    assert_eq!(entry, 1, "the feed holds the record the API serves");

    // A statement rolled back leaves no entry; a deletion of many rows one tombstone each.
    app.execute("BEGIN; UPDATE feedback SET rating = 6 - rating; ROLLBACK;")
        .await;
    assert_eq!(app.count(&feed("true")).await, before + changed);
    let fives = app
        .count("SELECT count(*) AS n FROM feedback WHERE rating = 5")
        .await;
    assert!(fives > 0);
    app.execute("DELETE FROM feedback WHERE rating = 5").await;
    assert_eq!(app.count(&feed("op = 'delete'")).await, fives);

    // The status history, per statement too: only the rows whose status moved.
    let history = "SELECT count(*) AS n FROM assignment_status_history";
    let before = app.count(history).await;
    let ongoing = app
        .count("SELECT count(*) AS n FROM assignments WHERE status = 'ongoing'")
        .await;
    assert!(ongoing > 0);
    app.execute("UPDATE assignments SET status = CASE WHEN status = 'ongoing' THEN 'completed' ELSE status END")
        .await;
    assert_eq!(app.count(history).await, before + ongoing);
}
