//! The database layer itself: reversible migrations, the embedded cluster keeping data across
//! restarts, and the Luhn check constraint.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::support::TestDb;

#[actix_web::test]
async fn migrations_are_reversible() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let reverted = std::thread::spawn(move || samverkan::store::db::revert_all(&url))
        .join()
        .expect("thread")
        .expect("revert every migration");
    assert!(reverted >= 1);
    let url = db.url.clone();
    let applied = std::thread::spawn(move || samverkan::store::db::migrate(&url))
        .join()
        .expect("thread")
        .expect("migrate again");
    assert_eq!(applied.len(), reverted);
}

#[actix_web::test]
async fn replicas_started_together_migrate_one_after_the_other() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let reverted = std::thread::spawn(move || samverkan::store::db::revert_all(&url))
        .join()
        .expect("thread")
        .expect("revert every migration");
    let migrators: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || samverkan::store::db::migrate(&url))
        })
        .collect();
    let mut applied = Vec::new();
    for m in migrators {
        applied.push(
            m.join()
                .expect("thread")
                .expect("every replica comes up")
                .len(),
        );
    }
    applied.sort_unstable();
    assert_eq!(
        applied,
        [0, 0, reverted],
        "one applied them all, the others none"
    );
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
        let pg = samverkan::store::embedded_pg::EmbeddedPostgres::start(&dir).expect("start");
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
    app.load_demo().await;
    // Twice: the demo data loads over itself.
    app.load_demo().await;
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

/// `sslmode=require` encrypts; `verify-full` checks the certificate against `sslrootcert`, and
/// refuses one it cannot trust. Against a cluster of its own with a self-signed certificate.
#[test]
fn tls_connections_follow_libpq_sslmode() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("samverkan-tls-{}", uuid::Uuid::new_v4().simple()));
    let pg = samverkan::store::embedded_pg::EmbeddedPostgres::start(&dir).expect("start");
    pg.stop().expect("stop");
    let pgdata = dir.join("pgdata");
    let (cert, key) = (pgdata.join("server.crt"), pgdata.join("server.key"));
    // A test CA, and a server certificate for 127.0.0.1 signed by it.
    let (ca, ca_key, csr, ext) = (
        dir.join("ca.crt"),
        dir.join("ca.key"),
        dir.join("server.csr"),
        dir.join("server.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    let openssl = |args: Vec<std::ffi::OsString>| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let p = |p: &std::path::Path| p.as_os_str().to_owned();
    openssl(vec![
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("ec"),
        os("-pkeyopt"),
        os("ec_paramgen_curve:P-256"),
        os("-nodes"),
        os("-days"),
        os("2"),
        os("-subj"),
        os("/CN=samverkan-test-ca"),
        os("-keyout"),
        p(&ca_key),
        os("-out"),
        p(&ca),
    ]);
    openssl(vec![
        os("req"),
        os("-newkey"),
        os("ec"),
        os("-pkeyopt"),
        os("ec_paramgen_curve:P-256"),
        os("-nodes"),
        os("-subj"),
        os("/CN=localhost"),
        os("-keyout"),
        p(&key),
        os("-out"),
        p(&csr),
    ]);
    openssl(vec![
        os("x509"),
        os("-req"),
        os("-in"),
        p(&csr),
        os("-CA"),
        p(&ca),
        os("-CAkey"),
        p(&ca_key),
        os("-CAcreateserial"),
        os("-days"),
        os("2"),
        os("-extfile"),
        p(&ext),
        os("-out"),
        p(&cert),
    ]);
    let owner = std::fs::metadata(&pgdata).expect("pgdata");
    for file in [&cert, &key] {
        std::os::unix::fs::chown(
            file,
            Some(std::os::unix::fs::MetadataExt::uid(&owner)),
            Some(std::os::unix::fs::MetadataExt::gid(&owner)),
        )
        .expect("chown");
    }
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(pgdata.join("postgresql.auto.conf"))
        .expect("conf");
    std::io::Write::write_all(
        &mut conf,
        b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
    )
    .expect("write conf");
    let pg =
        samverkan::store::embedded_pg::EmbeddedPostgres::start(&dir).expect("restart with TLS");
    let url = pg.url();
    let root = ca.display().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let encrypted = |url: String| {
        runtime.block_on(async move {
            #[derive(diesel::QueryableByName)]
            struct Ssl {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                ssl: bool,
            }
            let mut conn = samverkan::store::db::connect(&url).await?;
            let row: Ssl = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
                &mut conn,
            )
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok::<_, diesel::ConnectionError>(row.ssl)
        })
    };
    assert!(
        !encrypted(url.clone()).expect("plain"),
        "no sslmode: plain TCP"
    );
    assert!(
        encrypted(format!("{url}?sslmode=require")).expect("require"),
        "require encrypts"
    );
    assert!(encrypted(format!("{url}?sslmode=verify-full&sslrootcert={root}")).expect("verified"));
    let untrusted = encrypted(format!("{url}?sslmode=verify-full"));
    assert!(
        untrusted.is_err(),
        "a self-signed certificate is not trusted without sslrootcert"
    );
    pg.stop().expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn an_unknown_enum_text_in_the_database_is_an_error_not_a_default() {
    use actix_web::test::TestRequest;
    use samverkan::auth::Scope;
    let app = crate::support::TestApp::new().await;
    let writer = app.token(&[Scope::Write, Scope::Read], None).await;
    let created = app
        .call_as(
            &writer,
            TestRequest::post()
                .uri("/v1/networks")
                .set_json(serde_json::json!({"name": "Okänt nätverk", "kind": "staff"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().expect("id").to_owned();
    // A value this build does not know (a newer migration's, or a hand edit).
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connect");
    conn.batch_execute(&format!(
        "ALTER TABLE networks DROP CONSTRAINT networks_kind_check; \
         UPDATE networks SET kind = 'mystery' WHERE id = '{id}'"
    ))
    .await
    .expect("corrupt the row");
    let res = app
        .call_as(
            &writer,
            TestRequest::get().uri(&format!("/v1/networks/{id}")),
        )
        .await;
    res.problem(500, "internal-error");
    assert!(
        !res.text().contains("political"),
        "not read as the first kind"
    );
}

/// `src/store/schema.rs` is what `samverkan schema` makes of the migrated database: the tables,
/// columns, types, nullability and keys the code compiles against are the database's.
#[actix_web::test]
async fn schema_rs_is_generated_from_the_migrations() {
    let db = TestDb::new().await;
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let generated = samverkan::store::print_schema::print(&mut conn)
        .await
        .expect("print the schema");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/schema.rs"))
            .expect("src/store/schema.rs");
    assert!(
        generated == committed,
        "src/store/schema.rs is stale: regenerate it with \
         `cargo run -- schema --output src/store/schema.rs`\n{generated}"
    );
}
