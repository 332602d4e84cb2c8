//! The kernel's contract, checked for every resource in the registry: entity tags and
//! `If-None-Match`, 428 without `If-Match` and 412 with a stale one, the audit entry (and none
//! for a change that changes nothing), the change-feed entry, the unchanged repeated upsert, and
//! the municipality binding. A resource added to the registry fails
//! `every_registered_resource_has_a_fixture` until it has a fixture here, and then gets all of
//! these checks without a test of its own.

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{Res, TestApp};

const AREA: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";

/// How the contract reaches one resource.
struct Fixture {
    kind: &'static str,
    /// The record under test: created by `POST create.0` with body `create.1`, or an existing
    /// record's URL.
    create: Option<(String, Value)>,
    existing: Option<String>,
    /// A merge patch that changes the record.
    patch: Value,
    /// `PUT` by external reference: its URL and a full body.
    upsert: Option<(String, Value)>,
    /// Whether clients delete it.
    removable: bool,
}

async fn post(app: &TestApp, token: &str, uri: &str, body: &Value) -> Res {
    app.call_as(token, TestRequest::post().uri(uri).set_json(body))
        .await
}

fn id_of(res: &Res) -> String {
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["id"].as_str().expect("id").to_owned()
}

async fn fixtures(app: &TestApp, token: &str) -> Vec<Fixture> {
    let network = id_of(
        &post(
            app,
            token,
            "/v1/networks",
            &json!({"name": "Kontraktsnätverket", "kind": "staff", "municipalityIds": ["2281"]}),
        )
        .await,
    );
    let assignment_body = |title: &str| {
        json!({"title": title, "municipalityIds": ["2281"], "areaId": AREA,
               "fundingType": "internal", "status": "ongoing"})
    };
    let assignment = id_of(
        &post(
            app,
            token,
            "/v1/assignments",
            &assignment_body("Kontraktsuppdraget"),
        )
        .await,
    );
    let goal =
        |challenge: &str| json!({"challenge": challenge, "name": challenge, "statement": "Mål."});
    let report = |tertial: i64| {
        json!({"year": 2022, "tertial": tertial, "summary": "Gjort.", "spentSek": 1,
               "forecastSek": 2, "deviation": "none"})
    };
    let feedback = |rating: i64| json!({"year": 2022, "goal": "focus", "networkId": network, "municipalityId": "2281", "rating": rating});
    let event_body = |title: &str| {
        json!({"title": title, "kind": "training", "startsAt": "2031-03-24T09:00:00+01:00",
               "endsAt": "2031-03-24T12:00:00+01:00", "municipalityIds": ["2281"], "capacity": 20})
    };
    let event = id_of(
        &post(
            app,
            token,
            "/v1/events",
            &event_body("Kontraktsutbildningen"),
        )
        .await,
    );
    vec![
        Fixture {
            kind: "municipality",
            create: None,
            existing: Some("/v1/municipalities/2281".to_owned()),
            patch: json!({"officialName": "Sundsvalls kommun (kontrakt)"}),
            upsert: None,
            removable: false,
        },
        Fixture {
            kind: "area",
            create: Some(("/v1/areas".to_owned(), json!({"name": "Kontraktsområdet"}))),
            existing: None,
            patch: json!({"description": "Ändrad."}),
            upsert: None,
            removable: true,
        },
        Fixture {
            kind: "plan",
            create: Some((
                "/v1/plans".to_owned(),
                json!({"year": 2031, "title": "Verksamhetsplan 2031",
                       "goals": [goal("core"), goal("focus"), goal("internal")]}),
            )),
            existing: None,
            patch: json!({"title": "Verksamhetsplan 2031 (reviderad)"}),
            upsert: None,
            removable: false,
        },
        Fixture {
            kind: "network",
            create: Some((
                "/v1/networks".to_owned(),
                json!({"name": "Nätverk under test", "kind": "management", "municipalityIds": ["2281"]}),
            )),
            existing: None,
            patch: json!({"description": "Ändrad."}),
            upsert: Some((
                "/v1/networks/by-external-id/kontrakt/N-1".to_owned(),
                json!({"name": "Pushat nätverk", "kind": "staff", "municipalityIds": ["2281"]}),
            )),
            removable: true,
        },
        Fixture {
            kind: "member",
            create: Some((
                format!("/v1/networks/{network}/members"),
                json!({"name": "Anna Lindqvist", "municipalityId": "2281"}),
            )),
            existing: None,
            patch: json!({"title": "Samordnare"}),
            upsert: Some((
                format!("/v1/networks/{network}/members/by-external-id/kontrakt/M-1"),
                json!({"name": "Erik Sjödin", "municipalityId": "2281"}),
            )),
            removable: true,
        },
        Fixture {
            kind: "assignment",
            create: Some((
                "/v1/assignments".to_owned(),
                assignment_body("Uppdrag under test"),
            )),
            existing: None,
            patch: json!({"budgetSek": 1000}),
            upsert: Some((
                "/v1/assignments/by-external-id/kontrakt/A-1".to_owned(),
                assignment_body("Pushat uppdrag"),
            )),
            removable: true,
        },
        Fixture {
            kind: "progress_report",
            create: Some((format!("/v1/assignments/{assignment}/reports"), report(1))),
            existing: None,
            patch: json!({"spentSek": 5}),
            upsert: Some((
                format!("/v1/assignments/{assignment}/reports/by-external-id/kontrakt/R-1"),
                report(2),
            )),
            removable: true,
        },
        Fixture {
            kind: "feedback",
            create: Some(("/v1/feedback".to_owned(), feedback(4))),
            existing: None,
            patch: json!({"rating": 3}),
            upsert: Some((
                "/v1/feedback/by-external-id/kontrakt/F-1".to_owned(),
                feedback(5),
            )),
            removable: true,
        },
        Fixture {
            kind: "event",
            create: Some(("/v1/events".to_owned(), event_body("Utbildning under test"))),
            existing: None,
            patch: json!({"capacity": 30}),
            upsert: Some((
                "/v1/events/by-external-id/kontrakt/E-1".to_owned(),
                event_body("Pushad utbildning"),
            )),
            removable: true,
        },
        Fixture {
            kind: "registration",
            create: Some((
                format!("/v1/events/{event}/registrations"),
                json!({"name": "Karin Nilsson", "email": "karin.nilsson@example.se", "municipalityId": "2281"}),
            )),
            existing: None,
            patch: json!({"organisation": "Sundsvalls kommun"}),
            upsert: None,
            removable: true,
        },
    ]
}

#[actix_web::test]
async fn every_registered_resource_has_a_fixture() {
    let app = TestApp::new().await;
    let token = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let kinds: Vec<&str> = fixtures(&app, &token)
        .await
        .iter()
        .map(|f| f.kind)
        .collect();
    for entry in samverkan::resources::REGISTRY {
        assert!(
            kinds.contains(&entry.kind),
            "the resource {} has no fixture in tests/api/contract.rs",
            entry.kind
        );
    }
}

async fn audit_count(app: &TestApp, admin: &str, kind: &str, id: &str) -> usize {
    let res = app
        .call_as(
            admin,
            TestRequest::get().uri(&format!(
                "/v1/audit?resourceType={kind}&resourceId={id}&limit=500"
            )),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["items"].as_array().expect("items").len()
}

/// Whether the change feed has this version of the record. The feed shows a change only once
/// every transaction older than it has ended, cluster-wide (so that nothing is skipped), and in
/// a parallel test run another test's transaction may briefly hold it back: look for up to 10 s.
async fn feed_has(app: &TestApp, kind: &str, id: &str, version: i64) -> bool {
    let started = std::time::Instant::now();
    loop {
        let res = app
            .get(&format!("/v1/changes?types={kind}&limit=1000"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        let found = res.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|c| c["id"] == id && c["version"].as_i64() == Some(version));
        if found || started.elapsed() > std::time::Duration::from_secs(10) {
            return found;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn etag(res: &Res) -> String {
    res.header("etag").expect("an ETag").to_owned()
}

#[actix_web::test]
async fn every_resource_keeps_the_kernel_contract() {
    let app = TestApp::new().await;
    let admin = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], None)
        .await;
    let elsewhere = app
        .token(&[Scope::Read, Scope::Write, Scope::Admin], Some("2262"))
        .await;
    for f in fixtures(&app, &admin).await {
        let k = f.kind;
        // The record and its URL.
        let url = match (&f.create, &f.existing) {
            (Some((uri, body)), _) => {
                let res = post(&app, &admin, uri, body).await;
                assert_eq!(res.status, 201, "{k}: {}", res.text());
                assert_eq!(etag(&res), "\"1\"", "{k}: a new record is version 1");
                res.header("location").expect("Location").to_owned()
            }
            (None, Some(url)) => url.clone(),
            (None, None) => panic!("{k}: the fixture names no record"),
        };
        let read = app.call_as(&admin, TestRequest::get().uri(&url)).await;
        assert_eq!(read.status, 200, "{k}: {}", read.text());
        let id = read.json()["id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| read.json()["year"].as_i64().map(|y| y.to_string()))
            .expect("an id");
        let tag = etag(&read);
        let cached = app
            .call_as(
                &admin,
                TestRequest::get()
                    .uri(&url)
                    .insert_header(("If-None-Match", tag.as_str())),
            )
            .await;
        assert_eq!(
            cached.status, 304,
            "{k}: If-None-Match with the current ETag"
        );

        // Preconditions.
        let patch = |tag: Option<&str>, token: &str| {
            let mut req = TestRequest::patch()
                .uri(&url)
                .insert_header(("Content-Type", "application/merge-patch+json"))
                .set_payload(f.patch.to_string());
            if let Some(tag) = tag {
                req = req.insert_header(("If-Match", tag.to_owned()));
            }
            (req, token.to_owned())
        };
        let audited = audit_count(&app, &admin, k, &id).await;
        let (req, token) = patch(None, &admin);
        app.call_as(&token, req)
            .await
            .problem(428, "precondition-required");
        let (req, token) = patch(Some("\"999\""), &admin);
        let stale = app.call_as(&token, req).await;
        stale.problem(412, "precondition-failed");
        assert_eq!(etag(&stale), tag, "{k}: a 412 carries the current ETag");

        // The binding: a client bound to another municipality changes nothing.
        let (req, token) = patch(Some(&tag), &elsewhere);
        app.call_as(&token, req).await.problem(403, "forbidden");
        assert_eq!(
            audit_count(&app, &admin, k, &id).await,
            audited,
            "{k}: refused changes are not audited"
        );

        // A change: a new version, one audit entry, one feed entry.
        let (req, token) = patch(Some(&tag), &admin);
        let changed = app.call_as(&token, req).await;
        assert_eq!(changed.status, 200, "{k}: {}", changed.text());
        let new_tag = etag(&changed);
        assert_ne!(new_tag, tag, "{k}: a change moves the version");
        assert_eq!(audit_count(&app, &admin, k, &id).await, audited + 1, "{k}");
        let version: i64 = new_tag.trim_matches('"').parse().expect("a version");
        assert!(
            feed_has(&app, k, &id, version).await,
            "{k}: the feed has the change"
        );
        // The same patch again changes nothing and is not audited.
        let (req, token) = patch(Some(&new_tag), &admin);
        let same = app.call_as(&token, req).await;
        assert_eq!(same.status, 200, "{k}: {}", same.text());
        assert_eq!(
            etag(&same),
            new_tag,
            "{k}: an unchanged write keeps the version"
        );
        assert_eq!(audit_count(&app, &admin, k, &id).await, audited + 1, "{k}");

        // Upsert by external reference: created once, then unchanged.
        if let Some((uri, body)) = &f.upsert {
            let put = || TestRequest::put().uri(uri).set_json(body);
            let first = app.call_as(&admin, put()).await;
            assert_eq!(first.status, 201, "{k}: {}", first.text());
            let pushed = first.json()["id"].as_str().expect("id").to_owned();
            let entries = audit_count(&app, &admin, k, &pushed).await;
            let again = app.call_as(&admin, put()).await;
            assert_eq!(again.status, 200, "{k}: {}", again.text());
            assert_eq!(
                etag(&again),
                etag(&first),
                "{k}: a repeated push changes nothing"
            );
            assert_eq!(audit_count(&app, &admin, k, &pushed).await, entries, "{k}");
            app.call_as(&elsewhere, put())
                .await
                .problem(403, "forbidden");
        }

        // Deletion, under the same preconditions.
        if f.removable {
            let delete = |tag: Option<&str>, token: &str| {
                let mut req = TestRequest::delete().uri(&url);
                if let Some(tag) = tag {
                    req = req.insert_header(("If-Match", tag.to_owned()));
                }
                (req, token.to_owned())
            };
            let (req, token) = delete(None, &admin);
            app.call_as(&token, req)
                .await
                .problem(428, "precondition-required");
            let (req, token) = delete(Some(&new_tag), &elsewhere);
            app.call_as(&token, req).await.problem(403, "forbidden");
            let (req, token) = delete(Some(&new_tag), &admin);
            let gone = app.call_as(&token, req).await;
            assert_eq!(gone.status, 204, "{k}: {}", gone.text());
            app.call_as(&admin, TestRequest::get().uri(&url))
                .await
                .problem(404, "not-found");
            assert_eq!(audit_count(&app, &admin, k, &id).await, audited + 2, "{k}");
        }
    }
}
