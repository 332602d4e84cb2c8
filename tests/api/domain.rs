//! The domain: networks and members, assignments and their lifecycle, progress reports, feedback
//! and its summary, plans, and exports.

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{TestApp, enc, violation_fields};

const DIGITALISERING: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";
const SOCIAL: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003";
const UTBILDNING: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005";

struct Writer<'a> {
    app: &'a TestApp,
    token: String,
}

impl Writer<'_> {
    async fn post(&self, uri: &str, body: Value) -> crate::support::Res {
        self.app
            .call_as(&self.token, TestRequest::post().uri(uri).set_json(body))
            .await
    }

    async fn created(&self, uri: &str, body: Value) -> Value {
        let res = self.post(uri, body).await;
        assert_eq!(res.status, 201, "POST {uri}: {}", res.text());
        assert!(res.header("location").is_some());
        assert_eq!(res.header("etag"), Some("\"1\""));
        res.json()
    }

    async fn patch(&self, uri: &str, etag: &str, body: Value) -> crate::support::Res {
        self.app
            .call_as(
                &self.token,
                TestRequest::patch()
                    .uri(uri)
                    .insert_header(("If-Match", etag))
                    .set_json(body),
            )
            .await
    }

    async fn delete(&self, uri: &str, etag: &str) -> crate::support::Res {
        self.app
            .call_as(
                &self.token,
                TestRequest::delete()
                    .uri(uri)
                    .insert_header(("If-Match", etag)),
            )
            .await
    }
}

async fn writer<'a>(app: &'a TestApp, municipality: Option<&str>) -> Writer<'a> {
    Writer {
        app,
        token: app.token(&[Scope::Read, Scope::Write], municipality).await,
    }
}

fn titles(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[field].as_str().expect("text").to_owned())
        .collect()
}

async fn network(w: &Writer<'_>, name: &str, municipalities: &[&str]) -> Value {
    w.created(
        "/v1/networks",
        json!({"name": name, "kind": "management", "areaId": DIGITALISERING, "municipalityIds": municipalities}),
    )
    .await
}

fn assignment_body(title: &str, municipalities: &[&str]) -> Value {
    json!({
        "title": title, "description": "Ett gemensamt arbete.", "municipalityIds": municipalities,
        "areaId": SOCIAL, "challenge": "focus", "fundingType": "external", "funder": "ESF+",
        "budgetSek": 1_000_000, "partners": ["MIUN", "SKR"], "startDate": "2022-01-01", "endDate": "2023-06-30",
        "responsible": "Maria Holm"
    })
}

#[actix_web::test]
async fn networks_are_created_validated_searched_and_sorted() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    let all = ["2260", "2262", "2280", "2281", "2282", "2283", "2284"];
    let k = network(&w, "Kommundirektörsnätverket", &all).await;
    assert_eq!(k["kind"], "management");
    assert_eq!(k["status"], "active");
    assert_eq!(k["version"], 1);
    network(&w, "Ängens nätverk", &["2281"]).await;
    network(&w, "Örnsköldsviks presidium", &["2284"]).await;
    network(&w, "Åkerbruksnätverket", &["2260"]).await;
    network(&w, "Arbetsmarknadsnätverket", &["2262"]).await;

    let page = app.get("/v1/networks").await.json();
    assert_eq!(
        titles(&page, "name"),
        [
            "Arbetsmarknadsnätverket",
            "Kommundirektörsnätverket",
            "Åkerbruksnätverket",
            "Ängens nätverk",
            "Örnsköldsviks presidium"
        ]
    );
    let found = app
        .get(&format!(
            "/v1/networks?q={}",
            enc("kommundirektörsnätverket")
        ))
        .await
        .json();
    assert_eq!(titles(&found, "name"), ["Kommundirektörsnätverket"]);
    let by_municipality = app.get("/v1/networks?municipalityId=2284").await.json();
    assert_eq!(
        titles(&by_municipality, "name"),
        ["Kommundirektörsnätverket", "Örnsköldsviks presidium"]
    );

    for (body, field) in [
        (json!({"name": "X", "kind": "club"}), "kind"),
        (json!({"kind": "staff"}), "name"),
        (json!({"name": " ", "kind": "staff"}), "name"),
        (
            json!({"name": "X", "kind": "staff", "municipalityIds": ["22"]}),
            "municipalityIds[0]",
        ),
        (
            json!({"name": "X", "kind": "staff", "municipalityIds": ["2281", "2281"]}),
            "municipalityIds[1]",
        ),
        (
            json!({"name": "X", "kind": "staff", "municipalityIds": ["9999"]}),
            "municipalityIds[0]",
        ),
        (
            json!({"name": "X", "kind": "staff", "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a9999"}),
            "areaId",
        ),
        (
            json!({"name": "X", "kind": "staff", "externalSystem": "intranet"}),
            "externalId",
        ),
        (
            json!({"name": "X", "kind": "staff", "version": 4}),
            "version",
        ),
        (
            json!({"name": "X", "kind": "staff", "createdAt": "2020-01-01T00:00:00Z"}),
            "createdAt",
        ),
    ] {
        let p = w
            .post("/v1/networks", body.clone())
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{body}");
    }

    let uri = format!("/v1/networks/{}", k["id"].as_str().expect("id"));
    let res = w
        .patch(
            &uri,
            "\"1\"",
            json!({"status": "archived", "coordinator": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], "archived");
    assert_eq!(res.json()["version"], 2);
    let archived = app.get("/v1/networks?status=archived").await.json();
    assert_eq!(archived["_meta"]["totalRecords"], 1);
    w.patch(&uri, "\"1\"", json!({"status": "active"}))
        .await
        .problem(412, "precondition-failed");
    let p = w
        .patch(&uri, "\"2\"", json!({"name": null}))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["name"]);
    assert_eq!(w.delete(&uri, "\"2\"").await.status, 204);
    assert_eq!(app.get(&uri).await.status, 404);
}

#[actix_web::test]
async fn members_are_personal_data() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    let n = network(&w, "Skolchefsnätverket", &["2281", "2262"]).await;
    let members = format!("/v1/networks/{}/members", n["id"].as_str().expect("id"));
    let anna = w
        .created(&members, json!({"name": "Anna Lindqvist", "email": "Anna.Lindqvist@example.se", "phone": "070-000 00 01", "title": "Skolchef", "municipalityId": "2281"}))
        .await;
    w.created(&members, json!({"name": "Örjan Ek", "email": "orjan.ek@example.se", "title": "Skolchef", "municipalityId": "2262"})).await;
    let p = w
        .post(&members, json!({"name": "X", "email": "not-an-address"}))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["email"]);

    // A reader sees names and titles, not contact details.
    let listed = app.get(&members).await.json();
    assert_eq!(titles(&listed, "name"), ["Anna Lindqvist", "Örjan Ek"]);
    assert_eq!(listed["items"][0]["email"], Value::Null);
    assert_eq!(listed["items"][0]["title"], "Skolchef");
    // The association's writer and Sundsvall's own writer see Anna's; Timrå's does not.
    let full = app
        .call_as(&w.token, TestRequest::get().uri(&members))
        .await
        .json();
    assert_eq!(full["items"][0]["email"], "Anna.Lindqvist@example.se");
    let sundsvall = writer(&app, Some("2281")).await;
    let timra = writer(&app, Some("2262")).await;
    let anna_uri = format!("{members}/{}", anna["id"].as_str().expect("id"));
    let seen = app
        .call_as(&sundsvall.token, TestRequest::get().uri(&anna_uri))
        .await
        .json();
    assert_eq!(seen["phone"], "070-000 00 01");
    let seen = app
        .call_as(&timra.token, TestRequest::get().uri(&anna_uri))
        .await
        .json();
    assert_eq!(seen["phone"], Value::Null);
    // Timrå may not change Sundsvall's member.
    timra
        .patch(&anna_uri, "\"1\"", json!({"title": "Rektor"}))
        .await
        .problem(403, "forbidden");

    // Erasure by e-mail, across networks, case-insensitively; the audit log keeps no trace of her.
    let other = network(&w, "Digitaliseringsnätverket", &["2281"]).await;
    w.created(
        &format!("/v1/networks/{}/members", other["id"].as_str().expect("id")),
        json!({"name": "Anna Lindqvist", "email": "anna.lindqvist@example.se"}),
    )
    .await;
    let admin = app.token(&[Scope::Admin], None).await;
    let res = app
        .call_as(
            &admin,
            TestRequest::post()
                .uri("/v1/members/erasure")
                .set_json(json!({"email": "ANNA.LINDQVIST@example.se"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["erased"], 2);
    assert_eq!(app.get(&anna_uri).await.status, 404);
    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/audit?resourceType=member&limit=100"),
        )
        .await
        .text();
    for secret in ["Anna", "Lindqvist", "example.se", "070-000", "Örjan"] {
        assert!(
            !audit.contains(secret),
            "the audit log holds {secret}: {audit}"
        );
    }
    assert!(audit.contains("\"erase\""));
}

#[actix_web::test]
async fn assignments_follow_their_lifecycle() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    let a = w
        .created(
            "/v1/assignments",
            assignment_body("Resurscentrum mot våld", &["2281", "2262"]),
        )
        .await;
    assert_eq!(a["status"], "proposed");
    assert_eq!(a["budgetSek"], 1_000_000);
    assert_eq!(a["partners"], json!(["MIUN", "SKR"]));
    let id = a["id"].as_str().expect("id").to_owned();
    let transitions = format!("/v1/assignments/{id}/transitions");

    // Every illegal move is refused and names the allowed ones.
    let expected_allowed = [
        ("proposed", "incoming, cancelled"),
        ("incoming", "ongoing, cancelled"),
        ("ongoing", "outgoing, cancelled"),
        ("outgoing", "completed, cancelled"),
    ];
    let all = [
        "proposed",
        "incoming",
        "ongoing",
        "outgoing",
        "completed",
        "cancelled",
    ];
    for (i, (from, allowed)) in expected_allowed.iter().enumerate() {
        for to in all {
            if allowed.contains(to) {
                continue;
            }
            let p = w
                .post(&transitions, json!({"to": to}))
                .await
                .problem(409, "conflict");
            let detail = p["detail"].as_str().expect("detail");
            assert!(
                detail.contains(&format!("allowed: {allowed}")),
                "{from} → {to}: {detail}"
            );
        }
        let next = all[i + 1];
        let res = w.post(&transitions, json!({"to": next})).await;
        assert_eq!(res.status, 200, "{from} → {next}: {}", res.text());
        assert_eq!(res.json()["status"], next);
    }
    for to in all {
        let p = w
            .post(&transitions, json!({"to": to}))
            .await
            .problem(409, "conflict");
        assert!(
            p["detail"]
                .as_str()
                .expect("detail")
                .contains("none (it is final)")
        );
    }
    // Cancelling works from any state before completion.
    let b = w
        .created(
            "/v1/assignments",
            assignment_body("Lärcentrum i länet", &["2281"]),
        )
        .await;
    let res = w
        .post(
            &format!(
                "/v1/assignments/{}/transitions",
                b["id"].as_str().expect("id")
            ),
            json!({"to": "cancelled"}),
        )
        .await;
    assert_eq!(res.json()["status"], "cancelled");
    let p = w
        .post(&transitions, json!({"to": "flying"}))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["to"]);

    // PATCH does not change the status.
    let uri = format!("/v1/assignments/{id}");
    let etag = app.get(&uri).await.header("etag").expect("etag").to_owned();
    let p = w
        .patch(&uri, &etag, json!({"status": "ongoing"}))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["status"]);
    let res = w
        .patch(
            &uri,
            &etag,
            json!({"budgetSek": 1_200_000, "partners": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["partners"], json!([]));
}

#[actix_web::test]
async fn assignment_rules_and_filters() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    for (edit, field) in [
        (json!({"municipalityIds": []}), "municipalityIds"),
        (json!({"endDate": "2021-12-31"}), "endDate"),
        (json!({"funder": null}), "funder"),
        (json!({"budgetSek": -1}), "budgetSek"),
        (json!({"budgetSek": 1.5}), "budgetSek"),
        (json!({"startDate": "2022-13-01"}), "startDate"),
        (json!({"challenge": "other"}), "challenge"),
        (
            json!({"areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a9999"}),
            "areaId",
        ),
        (json!({"fundingType": "grant"}), "fundingType"),
        (json!({"partners": ["A|B"]}), "partners[0]"),
    ] {
        let mut body = assignment_body("X", &["2281"]);
        for (k, v) in edit.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = w
            .post("/v1/assignments", body.clone())
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{edit}");
    }
    w.created(
        "/v1/assignments",
        assignment_body("Skapa Resurscentrum mot våld", &["2281", "2262"]),
    )
    .await;
    let mut internal = assignment_body("Hållbart arbetsliv", &["2284"]);
    internal["fundingType"] = json!("internal");
    internal["funder"] = Value::Null;
    internal["areaId"] = json!(UTBILDNING);
    internal["description"] = json!("Stärka kommunernas kompetensförsörjning.");
    internal["startDate"] = json!("2023-01-01");
    internal["endDate"] = json!("2023-12-31");
    w.created("/v1/assignments", internal).await;

    let search = |q: &str| format!("/v1/assignments?q={}", enc(q));
    assert_eq!(
        titles(&app.get(&search("våld")).await.json(), "title"),
        ["Skapa Resurscentrum mot våld"]
    );
    assert_eq!(
        titles(
            &app.get(&search("kompetensförsörjningen")).await.json(),
            "title"
        ),
        ["Hållbart arbetsliv"]
    );
    assert_eq!(
        titles(
            &app.get("/v1/assignments?municipalityId=2262").await.json(),
            "title"
        ),
        ["Skapa Resurscentrum mot våld"]
    );
    assert_eq!(
        titles(
            &app.get("/v1/assignments?fundingType=internal").await.json(),
            "title"
        ),
        ["Hållbart arbetsliv"]
    );
    assert_eq!(
        titles(
            &app.get("/v1/assignments?activeIn=2023").await.json(),
            "title"
        )
        .len(),
        2
    );
    assert_eq!(
        titles(
            &app.get("/v1/assignments?activeIn=2024").await.json(),
            "title"
        )
        .len(),
        0
    );
    assert_eq!(
        titles(
            &app.get(&format!("/v1/assignments?areaId={UTBILDNING}"))
                .await
                .json(),
            "title"
        ),
        ["Hållbart arbetsliv"]
    );
    assert_eq!(
        titles(
            &app.get("/v1/assignments?status=proposed&challenge=focus&sort=-budgetSek")
                .await
                .json(),
            "title"
        )
        .len(),
        2
    );
    let p = app
        .get("/v1/assignments?status=done")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["status"]);

    // A bound client commissions only for its own municipality.
    let kramfors = writer(&app, Some("2282")).await;
    kramfors
        .post("/v1/assignments", assignment_body("X", &["2281"]))
        .await
        .problem(403, "forbidden");
    kramfors
        .post("/v1/assignments", assignment_body("X", &["2282", "2281"]))
        .await
        .problem(403, "forbidden");
    kramfors
        .created(
            "/v1/assignments",
            assignment_body("Kramfors egna", &["2282"]),
        )
        .await;
}

#[actix_web::test]
async fn progress_reports_one_per_tertial_and_not_while_proposed() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    let a = w
        .created(
            "/v1/assignments",
            assignment_body("Vård- och omsorgscollege", &["2281"]),
        )
        .await;
    let id = a["id"].as_str().expect("id");
    let reports = format!("/v1/assignments/{id}/reports");
    let report = json!({"year": 2022, "tertial": 1, "summary": "Start.", "spentSek": 100000, "forecastSek": 1000000, "deviation": "none"});
    let p = w
        .post(&reports, report.clone())
        .await
        .problem(409, "conflict");
    assert!(p["detail"].as_str().expect("detail").contains("proposed"));
    w.post(
        &format!("/v1/assignments/{id}/transitions"),
        json!({"to": "incoming"}),
    )
    .await;

    let created = w.created(&reports, report.clone()).await;
    assert_eq!(created["assignmentId"], id);
    let p = w
        .post(&reports, report.clone())
        .await
        .problem(409, "conflict");
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("tertial 1 of 2022")
    );

    for (edit, field) in [
        (json!({"tertial": 4}), "tertial"),
        (json!({"tertial": 0}), "tertial"),
        (json!({"year": 1999}), "year"),
        (json!({"deviation": "minor"}), "deviationNote"),
        (
            json!({"deviation": "major", "deviationNote": "  "}),
            "deviationNote",
        ),
        (json!({"deviation": "huge"}), "deviation"),
        (json!({"spentSek": -5}), "spentSek"),
        (json!({"summary": ""}), "summary"),
    ] {
        let mut body = report.clone();
        body["tertial"] = json!(2);
        for (k, v) in edit.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = w
            .post(&reports, body)
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{edit}");
    }
    let mut t2 = report.clone();
    t2["tertial"] = json!(2);
    t2["deviation"] = json!("major");
    t2["deviationNote"] = json!("Projektledaren slutade; rekrytering pågår.");
    w.created(&reports, t2).await;
    let listed = app.get(&reports).await.json();
    assert_eq!(listed["_meta"]["totalRecords"], 2);
    assert_eq!(listed["items"][0]["tertial"], 2, "newest first");
    let majors = app
        .get("/v1/progress-reports?year=2022&deviation=major")
        .await
        .json();
    assert_eq!(majors["_meta"]["totalRecords"], 1);

    let uri = format!("{reports}/{}", created["id"].as_str().expect("id"));
    let p = w
        .patch(&uri, "\"1\"", json!({"deviation": "minor"}))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["deviationNote"]);
    let res = w
        .patch(
            &uri,
            "\"1\"",
            json!({"deviation": "minor", "deviationNote": "Något försenat."}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(w.delete(&uri, "\"2\"").await.status, 204);
}

#[actix_web::test]
async fn feedback_is_filed_against_the_years_goals_and_summarised() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    let n = network(&w, "Socialchefsnätverket", &["2281", "2282"]).await;
    let presidium = w
        .created(
            "/v1/networks",
            json!({"name": "Presidiet", "kind": "presidium"}),
        )
        .await;
    let nid = n["id"].as_str().expect("id");
    let entry = |goal: &str, rating: i32, municipality: Option<&str>, suggestions: Value| {
        json!({"year": 2022, "goal": goal, "networkId": nid, "municipalityId": municipality,
               "rating": rating, "comment": "Bra stöd under året.", "suggestions": suggestions})
    };
    w.created(
        "/v1/feedback",
        entry(
            "focus",
            4,
            Some("2281"),
            json!([{"kind": "development", "text": "Gemensam kompetensförsörjningsstrategi"}]),
        ),
    )
    .await;
    w.created("/v1/feedback", entry("focus", 2, Some("2282"), json!([{"kind": "development", "text": "Gemensam kompetensförsörjningsstrategi"}, {"kind": "advocacy", "text": "Nära vård"}]))).await;
    w.created("/v1/feedback", entry("focus", 5, None, json!([])))
        .await;
    let mut by_presidium = entry(
        "core",
        3,
        None,
        json!([{"kind": "coordination", "text": "Samordnad upphandling"}]),
    );
    by_presidium["networkId"] = presidium["id"].clone();
    w.created("/v1/feedback", by_presidium).await;

    for (edit, field) in [
        (json!({"year": 2023}), "goal"),
        (json!({"goal": "other"}), "goal"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 6}), "rating"),
        (
            json!({"networkId": "00000000-0000-4000-8000-000000000000"}),
            "networkId",
        ),
        (json!({"municipalityId": "9999"}), "municipalityId"),
        (
            json!({"suggestions": [{"kind": "wish", "text": "x"}]}),
            "suggestions[0].kind",
        ),
        (
            json!({"suggestions": [{"kind": "advocacy", "text": ""}]}),
            "suggestions[0].text",
        ),
        (
            json!({"suggestions": [{"kind": "advocacy", "text": "x", "votes": 3}]}),
            "suggestions[0].votes",
        ),
    ] {
        let mut body = entry("focus", 3, None, json!([]));
        for (k, v) in edit.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = w
            .post("/v1/feedback", body)
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{edit}");
    }

    // A municipality-bound client files feedback for its own municipality only.
    let kramfors = writer(&app, Some("2282")).await;
    kramfors
        .post("/v1/feedback", entry("core", 3, Some("2281"), json!([])))
        .await
        .problem(403, "forbidden");
    kramfors
        .post("/v1/feedback", entry("core", 3, None, json!([])))
        .await
        .problem(403, "forbidden");
    kramfors
        .created("/v1/feedback", entry("core", 5, Some("2282"), json!([])))
        .await;

    let summary = app.get("/v1/feedback/summary?year=2022").await;
    assert_eq!(summary.status, 200, "{}", summary.text());
    let s = summary.json();
    assert_eq!(s["year"], 2022);
    let goals = s["goals"].as_array().expect("goals");
    assert_eq!(
        goals
            .iter()
            .map(|g| g["goal"].as_str().expect("goal"))
            .collect::<Vec<_>>(),
        ["core", "focus", "internal"]
    );
    // Focus: ratings 4, 2, 5 → mean 3.67.
    assert_eq!(goals[1]["responses"], 3);
    assert_eq!(goals[1]["meanRating"], 3.67);
    assert_eq!(
        goals[1]["distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 1, "5": 1})
    );
    assert_eq!(
        goals[1]["suggestions"]["development"],
        json!([{"text": "Gemensam kompetensförsörjningsstrategi", "count": 2}])
    );
    assert_eq!(
        goals[1]["suggestions"]["advocacy"],
        json!([{"text": "Nära vård", "count": 1}])
    );
    // Core: 3 and 5 → 4.0. Internal: no feedback at all.
    assert_eq!(goals[0]["responses"], 2);
    assert_eq!(goals[0]["meanRating"], 4.0);
    assert_eq!(goals[2]["responses"], 0);
    assert_eq!(goals[2]["meanRating"], Value::Null);
    app.get("/v1/feedback/summary?year=2030")
        .await
        .problem(404, "not-found");
    app.get("/v1/feedback/summary")
        .await
        .problem(400, "validation-failed");

    let listed = app.get("/v1/feedback?goal=focus&sort=-rating").await.json();
    assert_eq!(
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|f| f["rating"].as_i64().expect("rating"))
            .collect::<Vec<_>>(),
        [5, 4, 2]
    );
    // A network with feedback cannot be deleted.
    let etag = app
        .get(&format!("/v1/networks/{nid}"))
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    w.delete(&format!("/v1/networks/{nid}"), &etag)
        .await
        .problem(409, "conflict");
}

#[actix_web::test]
async fn plans_are_created_and_goals_edited_by_administrators() {
    let app = TestApp::new().await;
    let admin = app.token(&[Scope::Admin, Scope::Read], None).await;
    let goal = |c: &str| json!({"challenge": c, "name": format!("{c} 2023"), "statement": format!("Efter 2023: {c}.")});
    let body = json!({"year": 2023, "title": "Verksamhetsplan 2023", "goals": [goal("core"), goal("focus"), goal("internal")]});
    let res = app
        .call_as(
            &admin,
            TestRequest::post().uri("/v1/plans").set_json(body.clone()),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.header("location"), Some("/v1/plans/2023"));
    app.call_as(&admin, TestRequest::post().uri("/v1/plans").set_json(body))
        .await
        .problem(409, "conflict");
    let two_goals = json!({"year": 2024, "title": "V 2024", "goals": [goal("core"), goal("core"), goal("internal")]});
    let p = app
        .call_as(
            &admin,
            TestRequest::post().uri("/v1/plans").set_json(two_goals),
        )
        .await
        .problem(400, "validation-failed");
    assert!(violation_fields(&p).iter().all(|f| f == "goals"), "{p}");

    let res = app
        .call_as(&admin, TestRequest::patch().uri("/v1/plans/2023").insert_header(("If-Match", "\"1\"")).set_json(json!({"goals": [{"challenge": "focus", "theme": "Kompetensförsörjning", "statement": "Ny målsättning."}]})))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let plan = res.json();
    assert_eq!(plan["goals"][1]["statement"], "Ny målsättning.");
    assert_eq!(plan["goals"][1]["theme"], "Kompetensförsörjning");
    assert_eq!(
        plan["version"], 2,
        "editing a goal moves the plan's version"
    );
    let writer_token = app.token(&[Scope::Write], None).await;
    app.call_as(
        &writer_token,
        TestRequest::post().uri("/v1/plans").set_json(json!({})),
    )
    .await
    .problem(403, "forbidden");
}

#[actix_web::test]
async fn municipalities_and_areas_export_like_every_list() {
    let app = TestApp::new().await;
    let csv = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/municipalities?sort=id")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body[3..].to_vec()).expect("UTF-8");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.expect("record")[0].to_owned())
        .collect();
    assert_eq!(
        ids,
        ["2260", "2262", "2280", "2281", "2282", "2283", "2284"],
        "every municipality, in the order asked for"
    );

    let nd = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/areas?q=digitalisering")
                .insert_header(("Accept", "application/x-ndjson")),
        )
        .await;
    assert_eq!(nd.status, 200);
    let names: Vec<String> = nd
        .text()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            v["name"].as_str().expect("name").to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["Digitalisering"],
        "the filter applies to the export"
    );

    app.call_as(
        &app.reader,
        TestRequest::get()
            .uri("/v1/areas")
            .insert_header(("Accept", "application/pdf")),
    )
    .await
    .problem(406, "not-acceptable");
}

#[actix_web::test]
async fn lists_export_as_csv_for_excel_and_as_ndjson() {
    let app = TestApp::new().await;
    let w = writer(&app, None).await;
    w.created("/v1/networks", json!({"name": "Kultur- och fritidschefsnätverket", "kind": "subject_area", "municipalityIds": ["2260", "2284"], "description": "Möten; en gång per tertial.\nAlla kommuner."})).await;
    w.created(
        "/v1/networks",
        json!({"name": "Åkerbruksnätverket", "kind": "staff"}),
    )
    .await;
    let csv = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/networks?sort=name")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.header("content-disposition")
            .expect("disposition")
            .contains("networks.csv")
    );
    assert!(
        csv.body.starts_with(&[0xEF, 0xBB, 0xBF]),
        "UTF-8 BOM for Excel"
    );
    let text = String::from_utf8(csv.body[3..].to_vec()).expect("UTF-8");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&headers[..4], ["id", "name", "kind", "areaId"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    assert_eq!(&rows[0][col("name")], "Kultur- och fritidschefsnätverket");
    assert_eq!(&rows[0][col("municipalityIds")], "2260|2284");
    assert_eq!(
        &rows[0][col("description")],
        "Möten; en gång per tertial.\nAlla kommuner."
    );
    assert_eq!(&rows[1][col("name")], "Åkerbruksnätverket");
    assert!(text.contains("\r\n"), "CRLF line ends");

    let nd = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/networks?kind=staff")
                .insert_header(("Accept", "application/x-ndjson")),
        )
        .await;
    assert_eq!(nd.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = nd
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "Åkerbruksnätverket");

    let res = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/assignments")
                .insert_header(("Accept", "image/png")),
        )
        .await;
    res.problem(406, "not-acceptable");
    for uri in ["/v1/assignments", "/v1/feedback", "/v1/progress-reports"] {
        let res = app
            .call_as(
                &app.reader,
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("Accept", "text/csv")),
            )
            .await;
        assert_eq!(res.status, 200, "{uri}");
        assert!(res.body.starts_with(&[0xEF, 0xBB, 0xBF]), "{uri}");
    }
}
