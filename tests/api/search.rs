//! Search: every collection's `q` and the one search box `GET /v1/search` find what people
//! type (parts of compound words, inflections, names with dots and hyphens, typos), rank it,
//! and find nothing for nonsense. The relevance set (`tests/fixtures/search/relevance.tsv`)
//! is scored as precision at 3.

use actix_web::test::TestRequest;
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::{TestApp, enc, violation_fields};

fn field(page: &Value, name: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[name].as_str().expect("text").to_owned())
        .collect()
}

async fn found(app: &TestApp, collection: &str, q: &str, name: &str) -> Vec<String> {
    let res = app.get(&format!("{collection}?q={}", enc(q))).await;
    assert_eq!(res.status, 200, "{collection}?q={q}: {}", res.text());
    field(&res.json(), name)
}

const RELEVANCE: &str = include_str!("../fixtures/search/relevance.tsv");

/// Creates an assignment in Sundsvall with the given title and description.
async fn create_assignment(app: &TestApp, token: &str, title: &str, description: &str) {
    let body = json!({
        "title": title, "description": description, "municipalityIds": ["2281"],
        "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002", "challenge": "core",
        "fundingType": "internal", "startDate": "2023-01-01", "endDate": "2023-12-31",
    });
    let res = app
        .call_as(
            token,
            TestRequest::post().uri("/v1/assignments").set_json(body),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
}

#[actix_web::test]
async fn people_find_what_they_type_among_the_first_three_hits() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let (mut right, mut all) = (0, 0);
    let mut misses = Vec::new();
    for line in RELEVANCE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let [who, q, expected] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("a relevance line has three columns: {line:?}");
        };
        let res = app.get(&format!("/v1/search?limit=3&q={}", enc(q))).await;
        assert_eq!(res.status, 200, "{q}: {}", res.text());
        let page = res.json();
        let top: Vec<(String, String)> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|h| {
                (
                    h["type"].as_str().expect("type").to_owned(),
                    h["id"].as_str().expect("id").to_owned(),
                )
            })
            .collect();
        let hit = expected.split('|').any(|e| {
            let (kind, id) = e.split_once(':').expect("type:id");
            top.iter().any(|(k, i)| k == kind && i.ends_with(id))
        });
        all += 1;
        if hit {
            right += 1;
        } else {
            misses.push(format!("{who}: {q:?} wanted {expected}, got {top:?}"));
        }
    }
    let precision = f64::from(right) / f64::from(all);
    // Written to stderr itself, past the test harness's capture, so every run reports it.
    let mut report = format!(
        "search relevance: precision at 3 = {:.1} % ({right} of {all} queries)\n",
        precision * 100.0
    );
    for miss in &misses {
        report.push_str(&format!("  missed {miss}\n"));
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
    assert!(
        all >= 40,
        "the relevance set has {all} queries, fewer than 40"
    );
    assert!(
        precision >= 0.95,
        "precision at 3 is {:.1} %, below 95 %: {misses:#?}",
        precision * 100.0
    );
}

#[actix_web::test]
async fn each_collection_forgives_how_people_type_and_finds_nothing_for_nonsense() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let first = |titles: Vec<String>| titles.into_iter().next().unwrap_or_default();
    for (q, title) in [
        // a host name is two words
        (
            "digitaliseringsguiden",
            "Utveckling av Digitaliseringsguiden.se",
        ),
        (
            "Digitaliseringsguiden.se",
            "Utveckling av Digitaliseringsguiden.se",
        ),
        // inflections the stemmer does not reach
        ("arbetslivet", "Hållbart Arbetsliv Västernorrland"),
        (
            "utanförskapet",
            "Kunskapsutveckling inom digitalt utanförskap",
        ),
        // the first part of a compound
        ("familjehem", "Gemensam familjehemsorganisation"),
        (
            "suicid",
            "Kompetenssatsningar kring suicidprevention och hedersrelaterat våld",
        ),
        (
            "heder",
            "Kompetenssatsningar kring suicidprevention och hedersrelaterat våld",
        ),
        (
            "arbetsmarknad",
            "Lärande mötesplats inom arbetsmarknadsområdet",
        ),
        // a later part of a compound
        (
            "prevention",
            "Kompetenssatsningar kring suicidprevention och hedersrelaterat våld",
        ),
        // names with punctuation; the title above the funder
        (
            "ESF+",
            "Resurs i kommunernas genomförande av socialfondsprogrammet ESF+",
        ),
        (
            "vård- och omsorgscollege",
            "Vård- och Omsorgscollege, fortsatt utveckling",
        ),
        // typos
        ("familjhem", "Gemensam familjehemsorganisation"),
        (
            "suicidpreventon",
            "Kompetenssatsningar kring suicidprevention och hedersrelaterat våld",
        ),
        (
            "omvärldsbevakninng",
            "Medarbetare som krokar arm: gemensam omvärldsbevakning",
        ),
    ] {
        assert_eq!(
            first(found(&app, "/v1/assignments", q, "title").await),
            title,
            "q={q}"
        );
    }
    for (q, name) in [
        ("digitalisering", "Digitaliseringsnätverket"),
        ("skolchef", "Skolchefsnätverket"),
        ("skolchfe", "Skolchefsnätverket"),
        ("hr-chef", "HR-chefsnätverket"),
        ("kultur och fritid", "Kultur- och fritidschefsnätverket"),
    ] {
        assert_eq!(
            first(found(&app, "/v1/networks", q, "name").await),
            name,
            "q={q}"
        );
    }
    assert_eq!(
        found(&app, "/v1/areas", "digitala", "name").await,
        ["Digitalisering"]
    );
    assert_eq!(
        found(&app, "/v1/feedback", "sjukfrånvaro", "comment").await,
        ["Hållbart arbetsliv har minskat sjukfrånvaron i flera verksamheter."]
    );
    // the suggestions are searched too
    assert_eq!(
        found(&app, "/v1/feedback", "upphandling", "comment")
            .await
            .len(),
        2
    );
    assert_eq!(
        found(&app, "/v1/progress-reports", "personalkostnader", "id")
            .await
            .len(),
        4
    );
    let skolchefer = "/v1/networks/d1000000-0000-4000-8000-000000000002/members";
    assert_eq!(
        found(&app, skolchefer, "ekman", "name").await,
        ["Lars Ekman"]
    );
    assert_eq!(found(&app, skolchefer, "skolchef", "name").await.len(), 2);
    assert!(
        found(&app, skolchefer, "example", "name").await.is_empty(),
        "contact details are not searched"
    );
    for q in ["xyzzyq", "qwerty asdfgh", "och", "kvantfysik"] {
        for (collection, name) in [
            ("/v1/assignments", "title"),
            ("/v1/networks", "name"),
            ("/v1/areas", "name"),
            ("/v1/feedback", "comment"),
            ("/v1/progress-reports", "summary"),
        ] {
            assert!(
                found(&app, collection, q, name).await.is_empty(),
                "{collection}?q={q} finds something"
            );
        }
        let all = app.get(&format!("/v1/search?q={}", enc(q))).await.json();
        assert_eq!(all["_meta"]["totalRecords"], 0, "q={q}: {all}");
        assert_eq!(all["facets"], json!([]));
    }
    // every word must be there
    assert!(
        found(
            &app,
            "/v1/assignments",
            "familjehem digitaliseringsguiden",
            "title"
        )
        .await
        .is_empty()
    );
}

#[actix_web::test]
async fn hits_are_ranked_title_above_description_unless_sort_says_otherwise() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    for (title, description) in [
        (
            "Arkiv för kommunerna",
            "Gemensam e-arkivlösning och bredband i glesbygd.",
        ),
        ("Bredband i glesbygd", "Utbyggnad i hela länet."),
        ("Cykelvägar", "Ingenting om nätet."),
        ("Drift av bredbandsnät", "Samordnad drift."),
    ] {
        create_assignment(&app, &token, title, description).await;
    }
    assert_eq!(
        found(&app, "/v1/assignments", "bredband", "title").await,
        [
            "Bredband i glesbygd",
            "Drift av bredbandsnät",
            "Arkiv för kommunerna"
        ],
        "a whole word in the title, then a part of a word in the title, then the description"
    );
    let sorted = app
        .get("/v1/assignments?q=bredband&sort=-title")
        .await
        .json();
    assert_eq!(
        field(&sorted, "title"),
        [
            "Drift av bredbandsnät",
            "Bredband i glesbygd",
            "Arkiv för kommunerna"
        ]
    );
    let all = app
        .get("/v1/search?q=bredband&types=assignment")
        .await
        .json();
    assert_eq!(
        field(&all, "title"),
        [
            "Bredband i glesbygd",
            "Drift av bredbandsnät",
            "Arkiv för kommunerna"
        ]
    );
    let scores: Vec<f64> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] > w[1]), "{scores:?}");
}

#[actix_web::test]
async fn one_search_box_finds_every_kind_counts_them_and_links_to_them() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let page = app.get("/v1/search?q=skolchef").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.json();
    assert_eq!(
        page["facets"],
        json!([
            {"type": "network", "count": 2, "countIsEstimate": false},
            {"type": "member", "count": 2, "countIsEstimate": false},
            {"type": "event", "count": 5, "countIsEstimate": false}
        ])
    );
    assert_eq!(page["_meta"]["totalRecords"], 9);
    let first = &page["items"][0];
    assert_eq!(first["type"], "network");
    assert_eq!(first["title"], "Skolchefsnätverket");
    assert_eq!(
        first["snippet"],
        "<mark>Skolcheferna</mark> i länet samverkar kring förskola, grundskola och gymnasieskola."
    );
    for hit in page["items"].as_array().expect("items") {
        let link = hit["link"].as_str().expect("link");
        let record = app.get(link).await;
        assert_eq!(record.status, 200, "{link}");
        assert_eq!(record.json()["id"], hit["id"]);
        if hit["type"] == "member" {
            assert!(record.json()["email"].is_null(), "a reader sees no e-mail");
            assert!(!hit["snippet"].as_str().expect("snippet").contains('@'));
        }
    }
    // `types` narrows the hits, not the counts; pages as every list
    let members = app
        .get("/v1/search?q=skolchef&types=member&limit=1&page=2")
        .await
        .json();
    assert_eq!(members["facets"], page["facets"]);
    assert_eq!(
        members["_meta"],
        json!({"page": 2, "limit": 1, "count": 1, "totalRecords": 2,
               "totalRecordsIsEstimate": false, "totalPages": 2})
    );
    assert_eq!(members["items"][0]["type"], "member");
    let reports = app
        .get("/v1/search?q=personalkostnader&types=progressReport,feedback")
        .await
        .json();
    assert_eq!(reports["_meta"]["totalRecords"], 4);
    assert!(
        reports["items"][0]["title"]
            .as_str()
            .expect("title")
            .contains(", tertial ")
    );
    let feedback = app
        .get(&format!(
            "/v1/search?q={}&types=feedback",
            enc("sjukfrånvaron")
        ))
        .await
        .json();
    assert_eq!(feedback["items"][0]["type"], "feedback");
    assert!(
        feedback["items"][0]["title"]
            .as_str()
            .expect("title")
            .starts_with("Återkoppling 2022, ")
    );
}

#[actix_web::test]
async fn snippets_are_html_escaped_and_bad_searches_are_named() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Admin], None).await;
    let area = json!({"name": "Vatten & <b>avlopp</b>", "description": "Om \"VA\" <script>alert(1)</script> i länet."});
    let res = app
        .call_as(&token, TestRequest::post().uri("/v1/areas").set_json(area))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let hit = &app.get("/v1/search?q=script").await.json()["items"][0];
    assert_eq!(
        hit["snippet"],
        "Om &quot;VA&quot; &lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; i länet."
    );
    assert_eq!(hit["title"], "Vatten & <b>avlopp</b>");
    let hit = &app.get("/v1/search?q=avlopp").await.json()["items"][0];
    assert_eq!(
        hit["snippet"],
        "Vatten &amp; &lt;b&gt;<mark>avlopp</mark>&lt;/b&gt;"
    );

    for (uri, name) in [
        ("/v1/search".to_owned(), "q"),
        ("/v1/search?q=%20".to_owned(), "q"),
        ("/v1/search?q=vatten&types=assignments".to_owned(), "types"),
        (format!("/v1/search?q={}", "a".repeat(201)), "q"),
        (
            format!(
                "/v1/search?q={}",
                enc("vatten avlopp skola vård omsorg kultur fritid idrott musik")
            ),
            "q",
        ),
        ("/v1/search?q=vatten&limit=501".to_owned(), "limit"),
        ("/v1/search?q=vatten&sort=title".to_owned(), "sort"),
        (
            format!(
                "/v1/assignments?q={}",
                enc("vatten avlopp skola vård omsorg kultur fritid idrott musik")
            ),
            "q",
        ),
    ] {
        let res = app.get(&uri).await;
        let problem = res.problem(400, "validation-failed");
        assert_eq!(violation_fields(&problem), [name], "{uri}");
    }
    let res = app
        .call(TestRequest::get().uri("/v1/search?q=vatten"))
        .await;
    assert_eq!(res.status, 401);
}

#[actix_web::test]
async fn a_typo_finds_a_word_first_written_a_moment_ago() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    let typo = "/v1/assignments?q=dricksvattenberedskapn";
    assert!(
        field(&app.get(typo).await.json(), "title").is_empty(),
        "no record has the word yet"
    );
    create_assignment(
        &app,
        &token,
        "Dricksvattenberedskap i länet",
        "Reservvatten vid kris.",
    )
    .await;
    assert_eq!(
        field(&app.get(typo).await.json(), "title"),
        ["Dricksvattenberedskap i länet"],
        "the write added its words to those a typo is corrected towards"
    );
}

#[actix_web::test]
async fn a_searched_page_counts_every_match_also_past_the_last_one() {
    let app = TestApp::new().await;
    app.load_demo().await;
    let everything = app
        .get("/v1/assignments?q=utveckling&limit=500")
        .await
        .json();
    let total = everything["_meta"]["totalRecords"]
        .as_i64()
        .expect("totalRecords");
    assert!(total >= 2, "the demo data has several: {everything}");
    assert_eq!(
        everything["items"].as_array().map(Vec::len),
        usize::try_from(total).ok()
    );
    for url in [
        "/v1/assignments?q=utveckling&limit=1".to_owned(),
        "/v1/assignments?q=utveckling&limit=1&sort=title".to_owned(),
        format!("/v1/assignments?q=utveckling&limit=1&page={}", total + 1),
    ] {
        let page = app.get(&url).await.json();
        assert_eq!(page["_meta"]["totalRecords"], json!(total), "{url}");
    }
    let past = app
        .get(&format!(
            "/v1/assignments?q=utveckling&limit=1&page={}",
            total + 1
        ))
        .await
        .json();
    assert_eq!(past["items"], json!([]));
}

/// Adds `n` assignments in one statement: titles `{title} 1` … `{title} n` and the
/// description, straight into the table (the triggers run as for any write).
async fn insert_assignments(app: &TestApp, n: u32, title: &str, description: &str) {
    let quote = |t: &str| t.replace('\'', "''");
    app.execute(&format!(
        "INSERT INTO assignments (id, title, description, municipality_ids, area_id, challenge, \
         funding_type, start_date, end_date, status) \
         SELECT gen_random_uuid(), '{title} ' || g, '{description}', ARRAY['2281'], \
                '6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002', 'core', 'internal', '2023-01-01', \
                '2023-12-31', 'ongoing' \
         FROM generate_series(1, {n}) g",
        title = quote(title),
        description = quote(description),
    ))
    .await;
}

#[actix_web::test]
async fn a_search_with_many_hits_ranks_a_window_and_estimates_what_it_does_not_count() {
    let app = TestApp::new().await;
    let token = app.token(&[Scope::Read, Scope::Write], None).await;
    // 1 200 with the word in the text only, 150 with it starting a word of the title, then
    // the one whose title is the word: written last, it is not among the first records the
    // index finds, but it must come first.
    insert_assignments(&app, 1200, "Uppdrag", "Stöd till fjällräddningen i länet.").await;
    insert_assignments(&app, 150, "Fjällräddningsövning", "Övning.").await;
    create_assignment(&app, &token, "Fjällräddning", "Samordning.").await;
    let (word, title) = (enc("fjällräddning"), enc("fjällräddningsövning"));
    let page = app.get(&format!("/v1/assignments?q={word}")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.json();
    let titles = field(&page, "title");
    assert_eq!(titles[0], "Fjällräddning", "{titles:?}");
    assert!(
        titles[1..]
            .iter()
            .all(|t| t.starts_with("Fjällräddningsövning ")),
        "names with the word before texts with it: {titles:?}"
    );
    let meta = &page["_meta"];
    assert_eq!(meta["totalRecordsIsEstimate"], true, "{meta}");
    assert!(meta["totalRecords"].as_i64() > Some(1000), "{meta}");

    // The pages of one window (the first 100 hits, then the first 1 000) do not repeat a hit,
    // and the names come before the texts.
    let mut seen = std::collections::HashSet::new();
    for n in 1..=8 {
        if n == 6 {
            seen.clear();
        }
        let page = app
            .get(&format!("/v1/assignments?q={word}&page={n}"))
            .await
            .json();
        let titles = field(&page, "title");
        assert_eq!(titles.len(), 20);
        let text_only = titles.iter().filter(|t| t.starts_with("Uppdrag ")).count();
        assert_eq!(text_only, if n < 8 { 0 } else { 9 }, "page {n}: {titles:?}");
        for id in field(&page, "id") {
            assert!(seen.insert(id), "page {n} repeats a hit");
        }
    }

    // Between the window and the limit of counting, the count is exact; sorted too.
    let exact = app.get(&format!("/v1/assignments?q={title}")).await.json();
    assert_eq!(exact["_meta"]["totalRecords"], 150, "{}", exact["_meta"]);
    assert_eq!(exact["_meta"]["totalRecordsIsEstimate"], false);
    let sorted = app
        .get(&format!("/v1/assignments?q={title}&sort=-title&limit=5"))
        .await
        .json();
    assert_eq!(sorted["_meta"]["totalRecords"], 150);
    assert_eq!(field(&sorted, "title")[0], "Fjällräddningsövning 99");

    // The search box says the same per type.
    let all = app
        .get(&format!("/v1/search?q={word}&limit=5"))
        .await
        .json();
    assert_eq!(all["items"][0]["title"], "Fjällräddning");
    assert_eq!(all["facets"][0]["type"], "assignment");
    assert_eq!(
        all["facets"][0]["countIsEstimate"], true,
        "{}",
        all["facets"]
    );
    assert_eq!(all["_meta"]["totalRecordsIsEstimate"], true);
    let narrow = app
        .get(&format!("/v1/search?q={title}&limit=5"))
        .await
        .json();
    assert_eq!(
        narrow["facets"],
        json!([{"type": "assignment", "count": 150, "countIsEstimate": false}])
    );
}

#[actix_web::test]
async fn a_word_that_is_part_of_very_many_words_is_found_in_each_of_them() {
    let app = TestApp::new().await;
    // 150 different words that all contain `kvastkonst` (more than the 100 a word is looked
    // up among); and a number, which is no word to correct towards.
    app.execute(
        "INSERT INTO assignments (id, title, description, municipality_ids, area_id, challenge, \
         funding_type, start_date, end_date, status) \
         SELECT gen_random_uuid(), 'Plan ' || chr(97 + g % 26) || chr(97 + g / 26) || 'kvastkonst', \
                'Diarienummer 20231234.', ARRAY['2281'], '6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002', \
                'core', 'internal', '2023-01-01', '2023-12-31', 'ongoing' \
         FROM generate_series(0, 149) g",
    )
    .await;
    let page = app.get("/v1/assignments?q=kvastkonst&limit=5").await.json();
    assert_eq!(page["_meta"]["totalRecords"], 150, "{}", page["_meta"]);
    let all = app.get("/v1/search?q=kvastkonst&limit=5").await.json();
    assert_eq!(
        all["facets"],
        json!([{"type": "assignment", "count": 150, "countIsEstimate": false}])
    );
    let numbers = app
        .count("SELECT count(*) AS n FROM search_words WHERE word ~ '^[0-9]+$'")
        .await;
    assert_eq!(numbers, 0, "numbers are not kept as words");
    // The number is still found, by its start.
    let found = app.get("/v1/assignments?q=2023123&limit=1").await.json();
    assert_eq!(found["_meta"]["totalRecords"], 150);
}
