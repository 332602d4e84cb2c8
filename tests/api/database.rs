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
