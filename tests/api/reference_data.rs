//! Municipalities, areas and plans: lists, paging, sorting, filters, single resources, ETags.

use actix_web::test::TestRequest;

use crate::support::{TestApp, violation_fields};

const SWEDISH_ORDER: [&str; 7] = [
    "Härnösand",
    "Kramfors",
    "Sollefteå",
    "Sundsvall",
    "Timrå",
    "Ånge",
    "Örnsköldsvik",
];

fn names(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

#[actix_web::test]
async fn municipalities_are_listed_in_swedish_order() {
    let app = TestApp::new().await;
    let res = app.get("/v1/municipalities").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    let page = res.json();
    assert_eq!(names(&page), SWEDISH_ORDER);
    assert_eq!(
        page["_meta"],
        serde_json::json!({"page": 1, "limit": 20, "count": 7, "totalRecords": 7,
                           "totalRecordsIsEstimate": false, "totalPages": 1})
    );

    let desc = app.get("/v1/municipalities?sort=-name").await.json();
    let mut reversed = SWEDISH_ORDER.to_vec();
    reversed.reverse();
    assert_eq!(names(&desc), reversed);
}

#[actix_web::test]
async fn municipality_fields_follow_the_contract() {
    let app = TestApp::new().await;
    let res = app.get("/v1/municipalities/2281").await;
    assert_eq!(res.status, 200);
    let m = res.json();
    assert_eq!(m["id"], "2281");
    assert_eq!(m["name"], "Sundsvall");
    assert_eq!(m["officialName"], "Sundsvalls kommun");
    assert_eq!(m["countyCode"], "22");
    assert_eq!(m["organisationNumber"], "212000-2411");
    assert_eq!(m["version"], 1);
    assert!(m["createdAt"].as_str().expect("createdAt").ends_with('Z'));
    assert_eq!(res.header("etag"), Some("\"1\""));

    // Härnösand's organisation number is not confirmed: it is left empty.
    let h = app.get("/v1/municipalities/2280").await.json();
    assert_eq!(h["organisationNumber"], serde_json::Value::Null);
}

#[actix_web::test]
async fn municipalities_page_and_filter() {
    let app = TestApp::new().await;
    let page = app
        .get("/v1/municipalities?limit=2&page=4&sort=id")
        .await
        .json();
    assert_eq!(page["items"][0]["id"], "2284");
    assert_eq!(
        page["_meta"],
        serde_json::json!({"page": 4, "limit": 2, "count": 1, "totalRecords": 7,
                           "totalRecordsIsEstimate": false, "totalPages": 4})
    );
    let beyond = app.get("/v1/municipalities?limit=2&page=9").await.json();
    assert_eq!(beyond["items"], serde_json::json!([]));
    assert_eq!(beyond["_meta"]["totalRecords"], 7);

    let found = app.get("/v1/municipalities?q=SUNDS").await.json();
    assert_eq!(names(&found), ["Sundsvall"]);
    let found = app.get("/v1/municipalities?q=%C3%B6rnsk").await.json();
    assert_eq!(names(&found), ["Örnsköldsvik"]);
    let none = app.get("/v1/municipalities?countyCode=01").await.json();
    assert_eq!(none["_meta"]["totalRecords"], 0);
}

#[actix_web::test]
async fn list_parameters_are_validated() {
    let app = TestApp::new().await;
    for (query, field) in [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("sort=password", "sort"),
        ("sort=name,-bogus", "sort"),
        ("countyCode=2", "countyCode"),
        ("unknown=1", "unknown"),
        ("limit=1&limit=2", "limit"),
    ] {
        let res = app.get(&format!("/v1/municipalities?{query}")).await;
        let p = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{query}: {p}");
    }
    // Every invalid parameter is reported at once.
    let p = app
        .get("/v1/municipalities?limit=900&page=0&sort=x")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["limit", "page", "sort"]);
}

#[actix_web::test]
async fn unknown_and_malformed_municipality_ids() {
    let app = TestApp::new().await;
    let p = app
        .get("/v1/municipalities/9999")
        .await
        .problem(404, "not-found");
    assert_eq!(p["instance"], "/v1/municipalities/9999");
    let p = app
        .get("/v1/municipalities/abc")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["municipalityId"]);
}

#[actix_web::test]
async fn etags_answer_304_when_current() {
    let app = TestApp::new().await;
    for uri in [
        "/v1/municipalities/2281",
        "/v1/municipalities?limit=3",
        "/v1/areas",
        "/v1/areas/6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
        "/v1/plans",
        "/v1/plans/2022",
        "/v1",
    ] {
        let first = app.get(uri).await;
        assert_eq!(first.status, 200, "{uri}");
        let etag = first.header("etag").expect("etag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong tag: {etag}"
        );
        let again = app
            .call_as(
                &app.reader,
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("If-None-Match", etag.clone())),
            )
            .await;
        assert_eq!(again.status, 304, "{uri}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let other = app
            .call_as(
                &app.reader,
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("If-None-Match", "\"nope\"")),
            )
            .await;
        assert_eq!(other.status, 200, "{uri}");
    }
}

#[actix_web::test]
async fn an_update_changes_version_and_etag() {
    let app = TestApp::new().await;
    let before = app.get("/v1/municipalities/2262").await;
    let mut conn = diesel_async::AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    conn.batch_execute(
        "UPDATE municipalities SET official_name = 'Timrå kommun ' WHERE id = '2262'",
    )
    .await
    .expect("update");
    let after = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/municipalities/2262")
                .insert_header(("If-None-Match", before.header("etag").expect("etag"))),
        )
        .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["version"], 2);
    assert_eq!(after.header("etag"), Some("\"2\""));
}

#[actix_web::test]
async fn areas_are_seeded_searchable_and_sorted() {
    let app = TestApp::new().await;
    let page = app.get("/v1/areas").await.json();
    assert_eq!(
        names(&page),
        [
            "Digitalisering",
            "Kommunövergripande frågor & EU",
            "Kultur & Fritid",
            "Socialtjänstens samverkans- och stödstrukturer",
            "Utbildning & Arbetsliv",
        ]
    );
    // Swedish stemming: the definite form finds the area.
    let found = app.get("/v1/areas?q=digitaliseringen").await.json();
    assert_eq!(names(&found), ["Digitalisering"]);
    let found = app.get("/v1/areas?q=utbildningen").await.json();
    assert_eq!(names(&found), ["Utbildning & Arbetsliv"]);

    let id = page["items"][0]["id"].as_str().expect("id");
    let one = app.get(&format!("/v1/areas/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], "Digitalisering");

    app.get("/v1/areas/6b1f1c52-5d0e-4c39-9a51-0d1f7c2a9999")
        .await
        .problem(404, "not-found");
    let p = app
        .get("/v1/areas/not-a-uuid")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["id"]);
    let p = app
        .get("/v1/areas?sort=description")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["sort"]);
}

#[actix_web::test]
async fn the_2022_plan_has_its_three_goals() {
    let app = TestApp::new().await;
    let res = app.get("/v1/plans/2022").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let plan = res.json();
    assert_eq!(plan["title"], "Verksamhetsplan 2022");
    assert_eq!(plan["vision"], "Tillsammans för välfärd och utveckling");
    let goals = plan["goals"].as_array().expect("goals");
    let challenges: Vec<&str> = goals
        .iter()
        .map(|g| g["challenge"].as_str().expect("challenge"))
        .collect();
    assert_eq!(challenges, ["core", "focus", "internal"]);
    assert_eq!(goals[1]["theme"], "Kompetensförsörjning");
    assert!(
        goals[2]["statement"]
            .as_str()
            .expect("statement")
            .contains("”krokar arm”")
    );

    let list = app.get("/v1/plans?fromYear=2020&toYear=2025").await.json();
    assert_eq!(list["_meta"]["totalRecords"], 1);
    assert_eq!(list["items"][0]["year"], 2022);
    let found = app
        .get("/v1/plans?q=kompetensf%C3%B6rs%C3%B6rjningen")
        .await
        .json();
    assert_eq!(found["_meta"]["totalRecords"], 1);
    let none = app.get("/v1/plans?year=2023").await.json();
    assert_eq!(none["_meta"]["totalRecords"], 0);

    app.get("/v1/plans/2023").await.problem(404, "not-found");
    for bad in ["20x2", "1999", "2101"] {
        let p = app
            .get(&format!("/v1/plans/{bad}"))
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), ["year"]);
    }
    let p = app
        .get("/v1/plans?fromYear=2025&toYear=2020")
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["toYear"]);
}

#[actix_web::test]
async fn a_long_list_counts_up_to_a_thousand_and_estimates_beyond_without_reading_every_row() {
    let app = TestApp::new().await;
    app.execute(
        "INSERT INTO areas (id, name, description) \
         SELECT gen_random_uuid(), 'Område ' || g, 'Räknas.' FROM generate_series(1, 1500) g",
    )
    .await;
    app.execute("ANALYZE areas").await;
    let all = app.get("/v1/areas?limit=10").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let meta = all.json()["_meta"].clone();
    assert_eq!(meta["totalRecordsIsEstimate"], true, "{meta}");
    let estimate = meta["totalRecords"].as_i64().expect("a number");
    // The seeded areas and the 1 500, as PostgreSQL's statistics have them.
    assert!((1001..=2000).contains(&estimate), "{meta}");
    // A page that ends short of the limit says the exact number with no count at all, and a
    // total up to 1 000 is counted exactly, from any page, also past the end.
    let last = app.get("/v1/areas?limit=500&page=4").await.json();
    assert_eq!(
        last["_meta"]["totalRecordsIsEstimate"], false,
        "{}",
        last["_meta"]
    );
    let exact = last["_meta"]["totalRecords"].as_i64().expect("a number");
    assert_eq!(
        exact,
        1500 + last["items"].as_array().map_or(0, Vec::len) as i64
    );
    assert_eq!(
        exact,
        app.count("SELECT count(*) AS n FROM areas").await,
        "the page's own count"
    );
    app.execute("DELETE FROM areas WHERE name LIKE 'Område %' AND name NOT LIKE 'Område 7%'")
        .await;
    for uri in ["/v1/areas?limit=2", "/v1/areas?limit=2&page=50"] {
        let meta = app.get(uri).await.json()["_meta"].clone();
        assert_eq!(meta["totalRecordsIsEstimate"], false, "{uri}: {meta}");
        assert_eq!(
            meta["totalRecords"].as_i64(),
            Some(app.count("SELECT count(*) AS n FROM areas").await),
            "{uri}: {meta}"
        );
    }
}

/// The ids of a whole collection, read page by page with `page` (`by_cursor` false) or by
/// following `_meta.nextCursor` from the first page.
async fn walk(app: &TestApp, list: &str, by_cursor: bool) -> Vec<String> {
    let mut ids = Vec::new();
    let mut uri = format!("{list}&limit=37");
    for page in 2.. {
        let res = app.get(&uri).await;
        assert_eq!(res.status, 200, "{uri}: {}", res.text());
        let body = res.json();
        ids.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        let meta = &body["_meta"];
        let next = if by_cursor {
            meta["nextCursor"]
                .as_str()
                .map(|c| format!("{list}&limit=37&after={c}"))
        } else {
            (body["items"].as_array().map_or(0, Vec::len) == 37)
                .then(|| format!("{list}&limit=37&page={page}"))
        };
        match next {
            Some(next) => uri = next,
            None => break,
        }
    }
    ids
}

#[actix_web::test]
async fn a_collection_walked_by_cursor_gives_every_record_once_in_its_order() {
    let app = TestApp::new().await;
    app.load_demo().await;
    // 300 entries written by one statement share their createdAt: ties broken by id.
    app.execute(
        "INSERT INTO feedback (id, year, goal, network_id, municipality_id, rating, comment) \
         SELECT gen_random_uuid(), 2022, 'core', (SELECT id FROM networks ORDER BY id LIMIT 1), \
                (ARRAY['2281', '2262', NULL])[1 + g % 3], 1 + g % 5, 'Samma stund ' || g \
         FROM generate_series(1, 300) g; \
         UPDATE assignments SET start_date = NULL WHERE title < 'M'",
    )
    .await;
    let lists = [
        (
            "/v1/feedback?sort=-createdAt",
            "SELECT count(*) AS n FROM feedback",
        ),
        (
            "/v1/feedback?sort=rating,-createdAt",
            "SELECT count(*) AS n FROM feedback",
        ),
        (
            "/v1/feedback?municipalityId=2281",
            "SELECT count(*) AS n FROM feedback WHERE municipality_id = '2281'",
        ),
        (
            "/v1/assignments?sort=startDate",
            "SELECT count(*) AS n FROM assignments",
        ),
        (
            "/v1/assignments?sort=-endDate,title",
            "SELECT count(*) AS n FROM assignments",
        ),
        (
            "/v1/networks?sort=kind",
            "SELECT count(*) AS n FROM networks",
        ),
        (
            "/v1/municipalities?sort=-id",
            "SELECT count(*) AS n FROM municipalities",
        ),
    ];
    for (list, count) in lists {
        let by_page = walk(&app, list, false).await;
        let by_cursor = walk(&app, list, true).await;
        let n = app.count(count).await as usize;
        assert_eq!(by_page.len(), n, "{list}");
        assert_eq!(
            by_cursor, by_page,
            "{list}: the same records in the same order"
        );
        let unique: std::collections::HashSet<&String> = by_cursor.iter().collect();
        assert_eq!(unique.len(), n, "{list}: each once");
    }

    // A page read by cursor has no totals; records added before the cursor shift nothing.
    let first = app.get("/v1/feedback?limit=50").await.json();
    let cursor = first["_meta"]["nextCursor"]
        .as_str()
        .expect("a full page has a cursor");
    let expected = app.get("/v1/feedback?limit=50&page=2").await.json();
    app.execute(
        "INSERT INTO feedback (id, year, goal, network_id, rating) \
         SELECT gen_random_uuid(), 2022, 'core', (SELECT id FROM networks ORDER BY id LIMIT 1), 3 \
         FROM generate_series(1, 5)",
    )
    .await;
    let second = app
        .get(&format!("/v1/feedback?limit=50&after={cursor}"))
        .await
        .json();
    assert_eq!(second["items"], expected["items"]);
    let meta = second["_meta"].as_object().expect("meta");
    assert_eq!(meta["count"], 50);
    assert_eq!(meta["limit"], 50);
    for absent in [
        "page",
        "totalRecords",
        "totalRecordsIsEstimate",
        "totalPages",
    ] {
        assert!(!meta.contains_key(absent), "{absent}: {meta:?}");
    }

    // What a cursor may not be combined with, and cursors not made by us for this order.
    let refused = [
        format!("/v1/feedback?after={cursor}&page=2"),
        format!("/v1/feedback?after={cursor}&sort=rating"),
        format!("/v1/feedback?after={cursor}&q=st%C3%B6d"),
        format!("/v1/feedback?after={}", cursor.replacen('e', "f", 1)),
        "/v1/feedback?after=bm90LWEtY3Vyc29y.AAAA".to_owned(),
        format!("/v1/feedback?after={}", "a".repeat(3000)),
    ];
    for uri in refused {
        let p = app.get(&uri).await.problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), ["after"], "{uri}: {p}");
    }
    let p = app
        .get(&format!("/v1/feedback?after={cursor}&sort=rating"))
        .await
        .problem(400, "validation-failed");
    assert!(
        p.to_string()
            .contains("made for sort=-createdAt, not sort=rating"),
        "says which order the cursor was made for: {p}"
    );
    let csv = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri(&format!("/v1/feedback?after={cursor}"))
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    csv.problem(400, "validation-failed");
}
