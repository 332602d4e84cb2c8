//! The board's reports, against fixed data whose figures are worked out by hand below.

use actix_web::test::TestRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use samverkan::auth::Scope;
use serde_json::{Value, json};

use crate::support::TestApp;

const DIGITALISERING: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";
const SOCIAL: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003";

/// Alfa (focus, Social, 1 000 000): incoming 2021-12-01, ongoing 2022-02-15, outgoing
/// 2022-06-10 (it changes status mid-year). Beta (core, Digitalisering, 500 000): incoming
/// 2022-03-01, ongoing 2022-09-20. Gamma (no challenge, Social, 200 000): ongoing 2021-06-01,
/// completed 2022-04-15. Reports: Alfa T1 (spent 100 000, forecast 1 100 000, minor deviation)
/// and T2 (300 000, 1 050 000, none). Nobody reports T3.
async fn fixture(app: &TestApp) -> (String, String) {
    let w = app.token(&[Scope::Read, Scope::Write], None).await;
    let create = async |title: &str, area: &str, challenge: Value, budget: i64| {
        let res = app
            .call_as(
                &w,
                TestRequest::post().uri("/v1/assignments").set_json(json!({
                "title": title, "municipalityIds": ["2281"], "areaId": area, "challenge": challenge,
                "fundingType": "internal", "budgetSek": budget, "status": "ongoing"})),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["id"].as_str().expect("id").to_owned()
    };
    let alfa = create("Alfa", SOCIAL, json!("focus"), 1_000_000).await;
    let beta = create("Beta", DIGITALISERING, json!("core"), 500_000).await;
    let gamma = create("Gamma", SOCIAL, Value::Null, 200_000).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    conn.batch_execute(&format!(
        "DELETE FROM assignment_status_history; \
         INSERT INTO assignment_status_history (assignment_id, status, changed_at) VALUES \
           ('{alfa}', 'incoming', '2021-12-01 10:00+01'), ('{alfa}', 'ongoing', '2022-02-15 10:00+01'), \
           ('{alfa}', 'outgoing', '2022-06-10 10:00+02'), \
           ('{beta}', 'incoming', '2022-03-01 10:00+01'), ('{beta}', 'ongoing', '2022-09-20 10:00+02'), \
           ('{gamma}', 'ongoing', '2021-06-01 10:00+02'), ('{gamma}', 'completed', '2022-04-15 10:00+02'); \
         UPDATE assignments SET status = 'outgoing' WHERE id = '{alfa}'; \
         UPDATE assignments SET status = 'completed' WHERE id = '{gamma}';"
    ))
    .await
    .expect("history");
    for (tertial, spent, forecast, deviation, note) in [
        (
            1,
            100_000,
            1_100_000,
            "minor",
            Some("Rekryteringen drog ut på tiden."),
        ),
        (2, 300_000, 1_050_000, "none", None),
    ] {
        let res = app
            .call_as(&w, TestRequest::post().uri(&format!("/v1/assignments/{alfa}/reports")).set_json(json!({
                "year": 2022, "tertial": tertial, "summary": "Arbetet går framåt.", "spentSek": spent,
                "forecastSek": forecast, "deviation": deviation, "deviationNote": note})))
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
    }
    (alfa, beta)
}

fn titles(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|a| a["title"].as_str().expect("title"))
        .collect()
}

#[actix_web::test]
async fn tertial_reports_use_the_status_at_the_end_of_each_period() {
    let app = TestApp::new().await;
    let (alfa, _) = fixture(&app).await;

    let t1 = app.get("/v1/reports/tertial/2022/1").await;
    assert_eq!(t1.status, 200, "{}", t1.text());
    let t1 = t1.json();
    assert_eq!(
        (t1["periodStart"].as_str(), t1["periodEnd"].as_str()),
        (Some("2022-01-01"), Some("2022-04-30"))
    );
    // Gamma completed on 15 April: not in the report. Beta is incoming, Alfa ongoing.
    assert_eq!(
        t1["counts"],
        json!({"incoming": 1, "ongoing": 1, "outgoing": 0})
    );
    assert_eq!(titles(&t1["incoming"]), ["Beta"]);
    assert_eq!(titles(&t1["ongoing"]), ["Alfa"]);
    // 1 000 000 + 500 000 budget; Alfa's report: 100 000 spent, 1 100 000 forecast. Beta has
    // not reported: its 500 000 is in no forecast (not a forecast of 0, which would make the
    // period look 400 000 under budget), and the variance is Alfa's: 1 100 000 - 1 000 000.
    assert_eq!(
        t1["totals"],
        json!({"budgetSek": 1_500_000, "spentSek": 100_000, "forecastSek": 1_100_000,
               "reportedBudgetSek": 1_000_000, "unreportedBudgetSek": 500_000,
               "unreportedAssignments": 1, "varianceSek": 100_000})
    );
    let nb = |s: &str| s.replace(' ', "\u{a0}");
    assert_eq!(
        t1["assumption"],
        format!(
            "Prognosen ({} kr) och avvikelsen ({} kr) gäller de uppdrag som har rapporterat för perioden, \
             med en budget på {} kr. Ett uppdrag utan rapport, med en budget på {} kr, ingår inte i \
             prognosen; avvikelsen förutsätter att det håller sin budget.",
            nb("1 100 000"),
            nb("+100 000"),
            nb("1 000 000"),
            nb("500 000")
        )
    );
    let areas: Vec<(&str, i64, i64, i64)> = t1["byArea"]
        .as_array()
        .expect("areas")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name"),
                a["forecastSek"].as_i64().expect("f"),
                a["unreportedBudgetSek"].as_i64().expect("u"),
                a["varianceSek"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(
        areas,
        [
            ("Digitalisering", 0, 500_000, 0),
            (
                "Socialtjänstens samverkans- och stödstrukturer",
                1_100_000,
                0,
                100_000
            )
        ]
    );
    let page = app
        .get("/v1/reports/tertial/2022/1?format=html")
        .await
        .text();
    for shown in [
        "<title>Tertialrapport – tertial 1 2022</title>",
        "<td>Uppdrag utan rapport (1)</td>",
        "Budget för uppdrag utan rapport (ingen prognos)",
        ">Kronor</text>",
        ">Område</text>",
        // The area's name in full, over two lines.
        "<tspan x=\"0\" dy=\"0\">Socialtjänstens samverkans- och</tspan><tspan x=\"0\" dy=\"14\">stödstrukturer</tspan>",
    ] {
        assert!(page.contains(shown), "the page lacks {shown}");
    }
    assert!(
        page.contains(&format!("{} kr</td>", nb("+100 000"))),
        "the variance on the reported ones"
    );
    let csv = app
        .get("/v1/reports/tertial/2022/1?format=csv")
        .await
        .text();
    assert!(
        csv.contains(
            "Varav ej rapporterat;;;;;500000;;;;1 uppdrag utan rapport: ingår inte i prognosen;"
        ),
        "{csv}"
    );
    assert_eq!(
        t1["deviations"],
        json!([{"assignmentId": alfa, "title": "Alfa", "deviation": "minor", "note": "Rekryteringen drog ut på tiden."}])
    );
    assert_eq!(
        t1["missingReports"],
        json!([]),
        "incoming assignments need not report"
    );

    let t2 = app.get("/v1/reports/tertial/2022/2").await.json();
    // Alfa moved to outgoing on 10 June; Beta became ongoing only on 20 September.
    assert_eq!(
        t2["counts"],
        json!({"incoming": 1, "ongoing": 0, "outgoing": 1})
    );
    assert_eq!(titles(&t2["outgoing"]), ["Alfa"]);
    assert_eq!(t2["totals"]["spentSek"], 300_000);
    assert_eq!(t2["totals"]["forecastSek"], 1_050_000);
    assert_eq!(t2["deviations"], json!([]));

    // The third tertial has no reports at all.
    let t3 = app.get("/v1/reports/tertial/2022/3").await.json();
    assert_eq!(
        t3["counts"],
        json!({"incoming": 0, "ongoing": 1, "outgoing": 1})
    );
    assert_eq!(
        t3["totals"],
        json!({"budgetSek": 1_500_000, "spentSek": 0, "forecastSek": 0, "reportedBudgetSek": 0,
               "unreportedBudgetSek": 1_500_000, "unreportedAssignments": 2, "varianceSek": 0})
    );
    assert!(
        t3["assumption"]
            .as_str()
            .expect("assumption")
            .starts_with("Inget uppdrag har rapporterat för perioden"),
        "{}",
        t3["assumption"]
    );
    assert_eq!(titles(&t3["missingReports"]), ["Alfa", "Beta"]);
    let areas: Vec<(&str, i64, i64)> = t3["byArea"]
        .as_array()
        .expect("areas")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name"),
                a["ongoing"].as_i64().expect("n"),
                a["budgetSek"].as_i64().expect("b"),
            )
        })
        .collect();
    assert_eq!(
        areas,
        [
            ("Digitalisering", 1, 500_000),
            (
                "Socialtjänstens samverkans- och stödstrukturer",
                0,
                1_000_000
            )
        ]
    );
    let challenges: Vec<&str> = t3["byChallenge"]
        .as_array()
        .expect("c")
        .iter()
        .map(|c| c["name"].as_str().expect("n"))
        .collect();
    assert_eq!(challenges, ["core", "focus"]);

    // 2021's last tertial saw Alfa incoming and Gamma ongoing (and Gamma without a report).
    let t = app.get("/v1/reports/tertial/2021/3").await.json();
    assert_eq!(
        t["counts"],
        json!({"incoming": 1, "ongoing": 1, "outgoing": 0})
    );
    assert_eq!(titles(&t["missingReports"]), ["Gamma"]);

    app.get("/v1/reports/tertial/2022/4")
        .await
        .problem(400, "validation-failed");
    app.get("/v1/reports/tertial/20x2/1")
        .await
        .problem(400, "validation-failed");
}

#[actix_web::test]
async fn the_annual_report_combines_feedback_assignments_and_tertials() {
    let app = TestApp::new().await;
    fixture(&app).await;
    let w = app.token(&[Scope::Read, Scope::Write], None).await;
    let network = async |name: &str, kind: &str| {
        app.call_as(
            &w,
            TestRequest::post()
                .uri("/v1/networks")
                .set_json(json!({"name": name, "kind": kind})),
        )
        .await
        .json()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let chefs = network("Socialchefsnätverket", "management").await;
    let presidium = network("Presidiet", "presidium").await;
    for (net, goal, rating, suggestions) in [
        (
            &chefs,
            "focus",
            2,
            json!([{"kind": "development", "text": "Kompetensförsörjningsstrategi"}]),
        ),
        (
            &presidium,
            "focus",
            5,
            json!([{"kind": "development", "text": "Kompetensförsörjningsstrategi"}, {"kind": "advocacy", "text": "Nära vård"}]),
        ),
        (&chefs, "core", 4, json!([])),
    ] {
        let res = app
            .call_as(&w, TestRequest::post().uri("/v1/feedback").set_json(json!({"year": 2022, "goal": goal, "networkId": net, "rating": rating, "suggestions": suggestions})))
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
    }
    let res = app.get("/v1/reports/annual/2022").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let r = res.json();
    assert_eq!(r["title"], "Verksamhetsplan 2022");
    let goals = r["goals"].as_array().expect("goals");
    assert_eq!(
        goals
            .iter()
            .map(|g| g["goal"].as_str().expect("goal"))
            .collect::<Vec<_>>(),
        ["core", "focus", "internal"]
    );
    // Focus: ratings 2 and 5 → mean 3.5, one response per network kind; Alfa served it and
    // ended the year outgoing.
    let focus = &goals[1];
    assert_eq!(focus["feedback"]["responses"], 2);
    assert_eq!(focus["feedback"]["meanRating"], 3.5);
    assert_eq!(
        focus["feedback"]["distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 0, "5": 1})
    );
    assert_eq!(
        focus["feedback"]["suggestions"]["development"],
        json!([{"text": "Kompetensförsörjningsstrategi", "count": 2}])
    );
    assert_eq!(
        focus["responsesByNetworkKind"],
        json!({"management": 1, "presidium": 1})
    );
    assert_eq!(titles(&focus["assignments"]), ["Alfa"]);
    assert_eq!(focus["outcomes"], json!({"outgoing": 1}));
    // Core: one response of 4; Beta ongoing at the end of the year.
    assert_eq!(goals[0]["feedback"]["meanRating"], 4.0);
    assert_eq!(goals[0]["outcomes"], json!({"ongoing": 1}));
    // Internal: no feedback, no assignments.
    assert_eq!(goals[2]["feedback"]["responses"], 0);
    assert_eq!(goals[2]["feedback"]["meanRating"], Value::Null);
    assert_eq!(goals[2]["assignments"], json!([]));
    // The three tertials side by side, as in the tertial reports.
    let tertials: Vec<(i64, i64, i64)> = r["tertials"]
        .as_array()
        .expect("tertials")
        .iter()
        .map(|t| {
            (
                t["tertial"].as_i64().expect("t"),
                t["totals"]["spentSek"].as_i64().expect("s"),
                t["missingReports"].as_i64().expect("m"),
            )
        })
        .collect();
    assert_eq!(tertials, [(1, 100_000, 0), (2, 300_000, 0), (3, 0, 2)]);
    // The page shows the responses by network kind that the JSON has (the focus goal's two).
    let page = app.get("/v1/reports/annual/2022?format=html").await.text();
    assert!(
        page.contains("<strong>Svar per nätverkstyp:</strong> Chefsnätverk 1 · Presidium 1"),
        "{page}"
    );
    app.get("/v1/reports/annual/2031")
        .await
        .problem(404, "not-found");
}

#[actix_web::test]
async fn reports_come_as_csv_and_printable_html() {
    let app = TestApp::new().await;
    fixture(&app).await;
    let csv = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/reports/tertial/2022/1")
                .insert_header(("Accept", "text/csv")),
        )
        .await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.body.starts_with(&[0xEF, 0xBB, 0xBF]));
    let text = String::from_utf8(csv.body[3..].to_vec()).expect("utf-8");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    assert_eq!(&reader.headers().expect("header")[1], "Uppdrag");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(
        rows.len(),
        5,
        "two assignments, the total, the reported and the unreported"
    );
    assert_eq!(&rows[2][0], "Summa");
    assert_eq!(&rows[2][5], "1500000");
    assert_eq!(
        (&rows[3][0], &rows[3][5], &rows[3][7], &rows[3][8]),
        ("Varav rapporterat", "1000000", "1100000", "100000")
    );
    assert_eq!(
        (&rows[4][0], &rows[4][5], &rows[4][7]),
        ("Varav ej rapporterat", "500000", "")
    );

    let html = app.get("/v1/reports/tertial/2022/1?format=html").await;
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = html.text();
    for expected in [
        "<html lang=\"sv\">",
        "Tertialrapport 1 2022",
        "<svg",
        "Pågår",
        "På väg in",
        "Avvikelser",
        "Rekryteringen drog ut på tiden.",
    ] {
        assert!(page.contains(expected), "missing {expected}");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing loaded from the internet"
    );
    let annual = app.get("/v1/reports/annual/2022?format=html").await.text();
    assert!(annual.contains("Verksamhetsberättelse 2022") && annual.contains("Betygsfördelning"));
    for shown in [
        // Every rating chart with its legend and axis titles.
        "Antal svar med betyget",
        ">Antal svar</text>",
        "Betyg (1 = lägst, 5 = högst)",
    ] {
        assert!(annual.contains(shown), "the annual page lacks {shown}");
    }
    let annual_csv = app.get("/v1/reports/annual/2022?format=csv").await;
    assert!(annual_csv.text().contains("Kärnutmaningen"));
    app.get("/v1/reports/annual/2022?format=pdf")
        .await
        .problem(400, "validation-failed");
}
