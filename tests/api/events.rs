//! Events, their registrations and calendar feeds: times as Sweden lives them, no overbooking
//! under 200 concurrent registrations on two replicas, the waiting list, personal data hidden
//! and erased, and feeds read by an independent iCalendar parser (Python's `icalendar`).

use std::collections::HashMap;
use std::time::Duration;

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{Res, TestApp, violation_fields};

async fn post(app: &TestApp, token: &str, uri: &str, body: Value) -> Res {
    app.call_as(token, TestRequest::post().uri(uri).set_json(body))
        .await
}

async fn created(app: &TestApp, token: &str, uri: &str, body: Value) -> Value {
    let res = post(app, token, uri, body).await;
    assert_eq!(res.status, 201, "{uri}: {}", res.text());
    res.json()
}

fn future_event(capacity: Option<i64>) -> Value {
    json!({"title": "Utbildning i kunskapsstyrning", "kind": "training",
           "startsAt": "2031-03-24T09:00:00+01:00", "endsAt": "2031-03-24T16:00:00+01:00",
           "municipalityIds": ["2260", "2262", "2280", "2281", "2282", "2283", "2284"],
           "capacity": capacity})
}

#[actix_web::test]
async fn events_take_their_times_as_sweden_lives_them() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    // Two whole days in May: midnight to midnight, summer time.
    let conference = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Länskonferens", "kind": "conference", "allDay": true,
               "startDate": "2027-05-10", "endDate": "2027-05-11", "municipalityIds": ["2281"]}),
    )
    .await;
    assert_eq!(conference["startsAt"], "2027-05-09T22:00:00Z");
    assert_eq!(conference["endsAt"], "2027-05-11T22:00:00Z");
    assert_eq!(conference["startDate"], "2027-05-10");
    assert_eq!(conference["endDate"], "2027-05-11");
    // A timed event in winter time, sent with its offset, stored and served in UTC.
    let meeting = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Nätverksmöte", "kind": "network_meeting",
               "startsAt": "2027-01-20T09:00:00+01:00", "endsAt": "2027-01-20T12:00:00+01:00",
               "municipalityIds": ["2281"]}),
    )
    .await;
    assert_eq!(meeting["startsAt"], "2027-01-20T08:00:00Z");
    assert_eq!(meeting["startDate"], "2027-01-20");
    assert_eq!(meeting["allDay"], false);
    // Moving the start alone keeps its length.
    let id = meeting["id"].as_str().expect("id");
    let moved = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/events/{id}"))
                .insert_header(("If-Match", "\"1\""))
                .set_json(json!({"startsAt": "2027-01-21T13:00:00+01:00"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json()["endsAt"], "2027-01-21T15:00:00Z");
    // A timed event over two days made all-day keeps both days.
    let two_days = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Internat", "kind": "training", "startsAt": "2027-02-10T09:00:00+01:00",
               "endsAt": "2027-02-11T16:00:00+01:00", "municipalityIds": ["2281"]}),
    )
    .await;
    let whole = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!(
                    "/v1/events/{}",
                    two_days["id"].as_str().expect("id")
                ))
                .insert_header(("If-Match", "\"1\""))
                .set_json(json!({"allDay": true})),
        )
        .await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    let whole = whole.json();
    assert_eq!(
        (&whole["startDate"], &whole["endDate"]),
        (&json!("2027-02-10"), &json!("2027-02-11"))
    );
    assert_eq!(whole["startsAt"], "2027-02-09T23:00:00Z");
    // Every wrong time at once, each named.
    let wrong = post(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Fel", "kind": "webinar", "startsAt": "2027-01-20T09:00:00+01:00",
               "endsAt": "2027-01-20T08:00:00+01:00", "startDate": "2027-01-21",
               "onlineUrl": "javascript:alert(1)", "capacity": 0, "municipalityIds": []}),
    )
    .await;
    let problem = wrong.problem(400, "validation-failed");
    let fields = violation_fields(&problem);
    for field in [
        "endsAt",
        "startDate",
        "onlineUrl",
        "capacity",
        "municipalityIds",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field}: {fields:?}");
    }
    let all_day = post(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Heldag", "kind": "conference", "allDay": true,
               "startsAt": "2027-01-20T09:00:00Z", "municipalityIds": ["2281"]}),
    )
    .await;
    let fields = violation_fields(&all_day.problem(400, "validation-failed"));
    assert_eq!(fields, ["startDate", "startsAt"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 3);
}

#[actix_web::test]
async fn a_bulk_load_moves_events_by_the_columns_it_gives() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let importer = app.token(&[Scope::Import], None).await;
    let timed = created(&app, &writer, "/v1/events", future_event(Some(10))).await;
    let all_day = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Konferens", "kind": "conference", "allDay": true,
               "startDate": "2031-05-10", "endDate": "2031-05-11", "municipalityIds": ["2281"]}),
    )
    .await;
    let load = |body: String| {
        app.call_as(
            &importer,
            TestRequest::post()
                .uri("/v1/imports/events")
                .insert_header(("Content-Type", "text/csv"))
                .set_payload(body),
        )
    };
    // Rows with an id and some columns: the rest is the record's, but not the days of a timed
    // event nor the times of an all-day one, which follow from what the row gives. An id may
    // come in any form a UUID takes.
    let res = load(format!(
        "id;version;startsAt;endsAt\nurn:uuid:{};1;2031-03-25T09:00:00+01:00;2031-03-25T15:00:00+01:00\n",
        timed["id"].as_str().expect("id")
    ))
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = load(format!(
        "id;version;startDate;endDate\n{};1;2031-06-01;2031-06-02\n",
        all_day["id"].as_str().expect("id")
    ))
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let moved = app
        .get(&format!("/v1/events/{}", timed["id"].as_str().expect("id")))
        .await
        .json();
    assert_eq!(
        (&moved["startsAt"], &moved["endsAt"], &moved["startDate"]),
        (
            &json!("2031-03-25T08:00:00Z"),
            &json!("2031-03-25T14:00:00Z"),
            &json!("2031-03-25")
        )
    );
    let moved = app
        .get(&format!(
            "/v1/events/{}",
            all_day["id"].as_str().expect("id")
        ))
        .await
        .json();
    assert_eq!(
        (&moved["startsAt"], &moved["endsAt"], &moved["endDate"]),
        (
            &json!("2031-05-31T22:00:00Z"),
            &json!("2031-06-02T22:00:00Z"),
            &json!("2031-06-02")
        )
    );
}

/// One blocking POST over real TCP, answered with its status and body.
fn register(url: String, token: String, n: usize) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let body = json!({"name": format!("Deltagare {n}"), "email": format!("deltagare{n}@example.se"),
                      "municipalityId": "2281"});
    match agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
    {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let text = res.body_mut().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            (status, body)
        }
        Err(e) => (0, json!(e.to_string())),
    }
}

#[actix_web::test]
async fn two_hundred_concurrent_registrations_fill_fifty_places_and_the_rest_wait() {
    let mut config = crate::support::test_config();
    config.rate_limits.writes_per_minute = 1_000_000;
    let app = TestApp::with_config(config).await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let event = created(&app, &writer, "/v1/events", future_event(Some(50))).await;
    let id = event["id"].as_str().expect("id").to_owned();
    // Two replicas, each with its own pool, on the one database.
    let ports = [app.listen().await, app.listen().await];
    let threads: Vec<_> = (0..200)
        .map(|n| {
            let url = format!(
                "http://127.0.0.1:{}/v1/events/{id}/registrations",
                ports[n % 2]
            );
            let token = writer.clone();
            std::thread::spawn(move || register(url, token, n))
        })
        .collect();
    let answers: Vec<(u16, Value)> = actix_web::rt::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    })
    .await
    .expect("join");
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        *by_status
            .entry(body["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    assert_eq!(by_status.get("confirmed"), Some(&50), "{by_status:?}");
    assert_eq!(by_status.get("waitlisted"), Some(&150), "{by_status:?}");
    let count = |status: &str| {
        format!(
            "SELECT count(*) AS n FROM registrations WHERE event_id = '{id}' AND status = '{status}'"
        )
    };
    assert_eq!(app.count(&count("confirmed")).await, 50);
    assert_eq!(app.count(&count("waitlisted")).await, 150);
    // The places went in the order of registration.
    let out_of_order = format!(
        "SELECT count(*) AS n FROM registrations w, registrations c \
         WHERE w.event_id = '{id}' AND c.event_id = '{id}' AND w.status = 'waitlisted' \
           AND c.status = 'confirmed' AND w.created_at < c.created_at"
    );
    assert_eq!(app.count(&out_of_order).await, 0);
    let listed = app
        .get(&format!(
            "/v1/events/{id}/registrations?status=confirmed&limit=1"
        ))
        .await;
    assert_eq!(listed.json()["_meta"]["totalRecords"], 50);

    // A cancellation gives its place to the first on the waiting list.
    let page = app
        .get(&format!(
            "/v1/events/{id}/registrations?status=waitlisted&limit=1"
        ))
        .await
        .json();
    let next = page["items"][0]["id"].as_str().expect("waiting").to_owned();
    let confirmed = app
        .get(&format!(
            "/v1/events/{id}/registrations?status=confirmed&limit=1"
        ))
        .await
        .json();
    let leaving = confirmed["items"][0]["id"].as_str().expect("confirmed");
    let cancel = app
        .call_as(
            &writer,
            TestRequest::delete()
                .uri(&format!("/v1/events/{id}/registrations/{leaving}"))
                .insert_header(("If-Match", "\"1\"")),
        )
        .await;
    assert_eq!(cancel.status, 204, "{}", cancel.text());
    let moved = app
        .get(&format!("/v1/events/{id}/registrations/{next}"))
        .await;
    assert_eq!(moved.json()["status"], "confirmed");
    assert_eq!(app.count(&count("confirmed")).await, 50);
    assert_eq!(app.count(&count("waitlisted")).await, 149);

    // Ten more places take the next ten, in order.
    let grown = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/events/{id}"))
                .insert_header(("If-Match", "\"1\""))
                .set_json(json!({"capacity": 60})),
        )
        .await;
    assert_eq!(grown.status, 200, "{}", grown.text());
    assert_eq!(app.count(&count("confirmed")).await, 60);
    assert_eq!(app.count(&out_of_order).await, 0);
}

#[actix_web::test]
async fn registrations_keep_personal_data_to_the_entitled_and_erase_it() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let admin = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let full = created(&app, &writer, "/v1/events", future_event(Some(1))).await;
    let other = created(&app, &writer, "/v1/events", future_event(None)).await;
    let (full, other) = (
        full["id"].as_str().expect("id").to_owned(),
        other["id"].as_str().expect("id").to_owned(),
    );
    let person =
        |name: &str, email: &str| json!({"name": name, "email": email, "municipalityId": "2284"});
    let anna = created(
        &app,
        &writer,
        &format!("/v1/events/{full}/registrations"),
        person("Anna Öberg", "Anna.Oberg@example.se"),
    )
    .await;
    assert_eq!(anna["status"], "confirmed");
    let per = created(
        &app,
        &writer,
        &format!("/v1/events/{full}/registrations"),
        person("Per Ek", "per.ek@example.se"),
    )
    .await;
    // A registration sent with an Idempotency-Key: its answer is kept for retries.
    let keyed = app
        .call_as(
            &writer,
            TestRequest::post()
                .uri(&format!("/v1/events/{other}/registrations"))
                .insert_header(("Idempotency-Key", "anmalan-1"))
                .set_json(person("Anna Öberg", "anna.oberg@example.se")),
        )
        .await;
    assert_eq!(keyed.status, 201, "{}", keyed.text());
    let kept_answers = "SELECT count(*) AS n FROM idempotency_keys \
                        WHERE convert_from(response_body, 'UTF8') ILIKE '%berg@example%'";
    assert_eq!(app.count(kept_answers).await, 1);
    assert_eq!(per["status"], "waitlisted");
    // One registration per address and event, whatever the case.
    let again = post(
        &app,
        &writer,
        &format!("/v1/events/{full}/registrations"),
        person("Anna", "ANNA.OBERG@example.se"),
    )
    .await;
    again.problem(409, "conflict");
    // A reader sees that someone registered, not who.
    let id = anna["id"].as_str().expect("id");
    let read = app
        .get(&format!("/v1/events/{full}/registrations/{id}"))
        .await
        .json();
    assert_eq!(read["name"], Value::Null);
    assert_eq!(read["email"], Value::Null);
    assert_eq!(read["municipalityId"], "2284");
    // Neither the feed nor the audit log holds the person.
    let leaked = app
        .count(
            "SELECT (SELECT count(*) FROM changes WHERE data::text ILIKE '%öberg%') \
                  + (SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') ILIKE '%öberg%') AS n",
        )
        .await;
    assert_eq!(leaked, 0);
    // A cancelled event takes nobody.
    let version = app.get(&format!("/v1/events/{other}")).await.json()["version"].clone();
    let cancelled = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/events/{other}"))
                .insert_header(("If-Match", format!("\"{version}\"")))
                .set_json(json!({"cancelled": true})),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    let late = post(
        &app,
        &writer,
        &format!("/v1/events/{other}/registrations"),
        person("Eva", "eva@example.se"),
    )
    .await;
    assert!(
        late.problem(409, "conflict")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cancelled"))
    );
    // Erasure: every registration of the address goes, and the waiting list moves up.
    let erased = post(
        &app,
        &admin,
        "/v1/registrations/erasure",
        json!({"email": "anna.oberg@EXAMPLE.se"}),
    )
    .await;
    assert_eq!(erased.status, 200, "{}", erased.text());
    assert_eq!(erased.json()["erased"], 2);
    // The answer a retry would replay is erased too; the retry still gets its status.
    assert_eq!(app.count(kept_answers).await, 0);
    let retry = app
        .call_as(
            &writer,
            TestRequest::post()
                .uri(&format!("/v1/events/{other}/registrations"))
                .insert_header(("Idempotency-Key", "anmalan-1"))
                .set_json(person("Anna Öberg", "anna.oberg@example.se")),
        )
        .await;
    assert_eq!(retry.status, 201);
    assert!(!retry.text().contains("example.se"), "{}", retry.text());
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM registrations WHERE lower(email) = 'anna.oberg@example.se'"
        )
        .await,
        0
    );
    let per_id = per["id"].as_str().expect("id");
    let moved = app
        .get(&format!("/v1/events/{full}/registrations/{per_id}"))
        .await;
    assert_eq!(moved.json()["status"], "confirmed");
    // Only an administrator erases.
    let refused = post(
        &app,
        &writer,
        "/v1/registrations/erasure",
        json!({"email": "per.ek@example.se"}),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
}

/// The feed as Python's `icalendar` reads it.
fn parsed_by_icalendar(feed: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("samverkan-ics-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("feed.ics");
    std::fs::write(&file, feed).expect("write the feed");
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/calendar/check.py"
        ))
        .arg(&file)
        .output()
        .expect("python3 runs (and `pip install icalendar` was done)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "icalendar could not read the feed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the checker's JSON")
}

#[actix_web::test]
async fn calendar_feeds_are_read_by_an_independent_parser() {
    let app = TestApp::new().await;
    let writer = app.token(&[Scope::Read, Scope::Write], None).await;
    let network = created(
        &app,
        &writer,
        "/v1/networks",
        json!({"name": "Skolchefsnätverket", "kind": "subject_area", "municipalityIds": ["2281"]}),
    )
    .await;
    let network = network["id"].as_str().expect("id").to_owned();
    let all = ["2260", "2262", "2280", "2281", "2282", "2283", "2284"];
    // Across the night summer time begins (28 March 2027, 02:00 → 03:00).
    let night = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Nattövning: krisberedskap, samverkan; ledning \\ stöd", "kind": "training",
               "startsAt": "2027-03-27T22:00:00+01:00", "endsAt": "2027-03-28T04:00:00+02:00",
               "description": "Rad ett.\nRad två med åäö, semikolon; komma, och snedstreck \\ i.",
               "location": "Kommunhuset, Härnösand", "municipalityIds": all}),
    )
    .await;
    let summer = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Skolchefsnätverket, möte 4", "kind": "network_meeting", "networkId": network,
               "startsAt": "2027-06-10T10:00:00+02:00", "endsAt": "2027-06-10T12:00:00+02:00",
               "municipalityIds": all}),
    )
    .await;
    let winter = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Webbinarium om digital mognad", "kind": "webinar",
               "startsAt": "2027-11-02T09:00:00+01:00", "endsAt": "2027-11-02T10:00:00+01:00",
               "onlineUrl": "https://meet.example.se/digital-mognad", "municipalityIds": ["2284"]}),
    )
    .await;
    let long_title = "Länskonferens om kompetensförsörjning i välfärden: hållbart arbetsliv, \
                      ledarskap och attraktiva arbetsgivare i Västernorrlands sju kommuner";
    let conference = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": long_title, "kind": "conference", "allDay": true, "startDate": "2027-05-10",
               "endDate": "2027-05-11", "description": "Två dagar. ".repeat(30),
               "municipalityIds": all, "capacity": 150}),
    )
    .await;
    let cancelled = created(
        &app,
        &writer,
        "/v1/events",
        json!({"title": "Presidiemöte", "kind": "presidium_meeting", "cancelled": true,
               "startsAt": "2027-09-01T13:00:00+02:00", "endsAt": "2027-09-01T15:00:00+02:00",
               "municipalityIds": ["2281"]}),
    )
    .await;
    // A change raises SEQUENCE.
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    let changed = app
        .call_as(
            &writer,
            TestRequest::patch()
                .uri(&format!("/v1/events/{}", id(&summer)))
                .insert_header(("If-Match", "\"1\""))
                .set_json(json!({"location": "Sollefteå, Hotell Hallstaberget"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());

    let res = app.get("/v1/events/calendar").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    let feed = res.text();
    assert!(feed.ends_with("END:VCALENDAR\r\n"));
    for raw in feed.split("\r\n") {
        assert!(raw.len() <= 75, "{} octets: {raw}", raw.len());
        assert!(!raw.contains('\n') && !raw.contains('\r'));
    }
    assert!(feed.contains("\r\n "), "the long lines are folded");
    let cal = parsed_by_icalendar(&feed);
    assert_eq!(cal["timezones"], json!(["Europe/Stockholm"]));
    let events: HashMap<String, Value> = cal["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["uid"].as_str().expect("uid").to_owned(), e.clone()))
        .collect();
    assert_eq!(events.len(), 5);
    for api in [&night, &summer, &winter, &cancelled] {
        let e = &events[&id(api)];
        // The feed's own VTIMEZONE and the IANA zone agree on every offset...
        for end in ["start", "end"] {
            assert_eq!(e[end]["tzid"], "Europe/Stockholm");
            assert_eq!(e[end]["ownOffset"], e[end]["ianaOffset"], "{e}");
        }
        // ...and the instants are the API's.
        assert_eq!(e["start"]["utc"], api["startsAt"]);
        assert_eq!(e["end"]["utc"], api["endsAt"]);
    }
    let n = &events[&id(&night)];
    assert_eq!(n["start"]["ownOffset"], 3600.0);
    assert_eq!(n["end"]["ownOffset"], 7200.0);
    assert_eq!(n["summary"], night["title"]);
    assert_eq!(
        n["description"],
        "Rad ett.\nRad två med åäö, semikolon; komma, och snedstreck \\ i."
    );
    assert_eq!(n["location"], "Kommunhuset, Härnösand");
    assert_eq!(n["categories"], json!(["Utbildning"]));
    let c = &events[&id(&conference)];
    assert_eq!(c["summary"], long_title);
    assert_eq!(c["start"]["date"], "2027-05-10");
    assert_eq!(c["end"]["date"], "2027-05-12");
    assert_eq!(events[&id(&summer)]["sequence"], 1);
    assert_eq!(events[&id(&night)]["sequence"], 0);
    assert_eq!(events[&id(&cancelled)]["status"], "CANCELLED");
    assert_eq!(events[&id(&summer)]["status"], "CONFIRMED");
    assert_eq!(
        events[&id(&winter)]["url"],
        "https://meet.example.se/digital-mognad"
    );

    // Unchanged: 304 on its ETag.
    let etag = res.header("etag").expect("etag").to_owned();
    let again = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/events/calendar")
                .insert_header(("If-None-Match", etag.as_str())),
        )
        .await;
    assert_eq!(again.status, 304);

    // A network's feed, through a calendar link, with no token.
    let link = created(
        &app,
        &writer,
        "/v1/calendar-links",
        json!({"networkId": network, "description": "Skolchefernas möten"}),
    )
    .await;
    let url = link["url"].as_str().expect("url");
    assert!(
        link["webcalUrl"]
            .as_str()
            .expect("webcal")
            .starts_with("webcal://")
    );
    let path = &url[url.find("/v1/calendars/").expect("path")..];
    let opened = app.call(TestRequest::get().uri(path)).await;
    assert_eq!(opened.status, 200, "{}", opened.text());
    let network_feed = parsed_by_icalendar(&opened.text());
    let uids: Vec<&str> = network_feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["uid"].as_str())
        .collect();
    assert_eq!(uids, [id(&summer)]);
    assert!(
        network_feed["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("Skolchefsnätverket"))
    );
    // The feed carries no personal data.
    created(
        &app,
        &writer,
        &format!("/v1/events/{}/registrations", id(&conference)),
        json!({"name": "Mikael Kalendersson", "email": "mikael@example.se"}),
    )
    .await;
    assert!(
        !app.get("/v1/events/calendar")
            .await
            .text()
            .contains("Kalendersson")
    );
    // An altered token opens nothing; a revoked link is gone.
    let mut altered = path.to_owned().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("utf-8");
    let forged = app.call(TestRequest::get().uri(&altered)).await;
    assert_eq!(forged.status, 404);
    let link_id = link["link"]["id"].as_str().expect("id");
    let revoked = post(
        &app,
        &writer,
        &format!("/v1/calendar-links/{link_id}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let gone = app.call(TestRequest::get().uri(path)).await;
    assert_eq!(gone.status, 410, "{}", gone.text());
    // At most one scope.
    let both = app
        .get(&format!(
            "/v1/events/calendar?networkId={network}&municipalityId=2281"
        ))
        .await;
    both.problem(400, "validation-failed");
}

#[actix_web::test]
async fn the_annual_report_counts_the_years_events_and_participants() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let report = app.get("/v1/reports/annual/2022").await;
    assert_eq!(report.status, 200, "{}", report.text());
    let events = &report.json()["events"];
    // The demo data: 49 events in 2022, two of them cancelled; 79 registrations, of which 70
    // are confirmed places at events that were held.
    assert_eq!(events["held"], 47);
    assert_eq!(events["planned"], 0);
    assert_eq!(events["cancelled"], 2);
    assert_eq!(events["participants"], 70);
    assert_eq!(
        events["participantsByMunicipality"],
        json!({"2260": 7, "2262": 9, "2280": 9, "2281": 11, "2282": 10, "2283": 10,
               "2284": 11, "none": 3})
    );
    let by_kind: i64 = events["byKind"]
        .as_object()
        .expect("byKind")
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(by_kind, 47);
    let expected = app
        .count(
            "SELECT count(*) AS n FROM events \
             WHERE NOT cancelled AND kind = 'network_meeting' AND extract(year FROM start_date) = 2022",
        )
        .await;
    assert_eq!(events["byKind"]["network_meeting"], expected);
    let page = app
        .call_as(
            &app.reader,
            TestRequest::get().uri("/v1/reports/annual/2022?format=html"),
        )
        .await
        .text();
    assert!(page.contains("<h2>Arrangemang</h2>"));
    assert!(page.contains("Deltagare per kommun"));
    assert!(page.contains("<td>Örnsköldsvik</td><td class=\"n\">11</td>"));
}
