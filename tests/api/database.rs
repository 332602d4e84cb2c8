//! The database layer itself: reversible migrations, the embedded cluster keeping data across
//! restarts, and the Luhn check constraint.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::support::TestDb;

#[actix_web::test]
async fn migrations_are_reversible() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let reverted = std::thread::spawn(move || samverkan::db::revert_all(&url))
        .join()
        .expect("thread")
        .expect("revert every migration");
    assert!(reverted >= 1);
    let url = db.url.clone();
    let applied = std::thread::spawn(move || samverkan::db::migrate(&url))
        .join()
        .expect("thread")
        .expect("migrate again");
    assert_eq!(applied.len(), reverted);
}

#[actix_web::test]
async fn the_database_refuses_an_invalid_organisation_number() {
    let db = TestDb::new().await;
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let err = conn
        .batch_execute(
            "UPDATE municipalities SET organisation_number = '212000-2412' WHERE id = '2280'",
        )
        .await
        .expect_err("a wrong check digit is refused");
    assert!(err.to_string().contains("check constraint"), "{err}");
    conn.batch_execute(
        "UPDATE municipalities SET organisation_number = '212000-2403' WHERE id = '2280'",
    )
    .await
    .expect("a valid number is accepted");
}

#[test]
fn the_embedded_cluster_keeps_data_across_restarts() {
    let dir = std::env::temp_dir().join(format!(
        "samverkan-restart-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let run = |statement: &'static str| {
        let pg = samverkan::embedded_pg::EmbeddedPostgres::start(&dir).expect("start");
        let url = pg.url();
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
                conn.batch_execute(statement).await
            });
        pg.stop().expect("stop");
        result
    };
    run("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('ja')").expect("write");
    // The second start reuses the cluster; the row must still be there.
    run("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM kept WHERE v = 'ja') THEN RAISE 'lost'; END IF; END $$")
        .expect("the row survived the restart");
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn the_demo_data_loads_twice_and_reads_like_the_plan() {
    let app = crate::support::TestApp::new().await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    samverkan::seed::demo_data(&mut conn)
        .await
        .expect("demo data");
    samverkan::seed::demo_data(&mut conn)
        .await
        .expect("demo data again");
    let focus = app
        .get("/v1/assignments?challenge=focus&limit=100")
        .await
        .json();
    assert_eq!(
        focus["_meta"]["totalRecords"], 22,
        "the 22 focus-area investments of the 2022 plan"
    );
    let vald = app.get("/v1/assignments?q=v%C3%A5ld").await.json();
    assert!(
        vald["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|a| a["title"] == "Skapa Resurscentrum mot våld som länsgemensam plattform")
    );
    let networks = app
        .get(
            "/v1/networks?q=kommundirektörsnätverket"
                .replace('ö', "%C3%B6")
                .replace('ä', "%C3%A4")
                .as_str(),
        )
        .await
        .json();
    assert_eq!(networks["_meta"]["totalRecords"], 1);
    let summary = app.get("/v1/feedback/summary?year=2022").await.json();
    assert!(
        summary["goals"]
            .as_array()
            .expect("goals")
            .iter()
            .all(|g| g["responses"].as_i64().expect("n") > 0)
    );
    let t3 = app.get("/v1/reports/tertial/2022/3").await.json();
    assert!(
        !t3["missingReports"].as_array().expect("missing").is_empty(),
        "some reports are missing on purpose"
    );
    assert!(!t3["deviations"].as_array().expect("deviations").is_empty());
}
