//! The test harness: a real PostgreSQL server (`DATABASE_URL`, or a throwaway cluster started
//! here), a template database migrated and seeded once per migration set, and a fresh database
//! cloned from it for every test, dropped when the test ends.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use samverkan::app::{self, AppState};
use samverkan::auth::credentials::VerifiedClient;
use samverkan::auth::keys::SigningKeys;
use samverkan::auth::{Scope, token};
use samverkan::config::{Config, PoolSettings};
use samverkan::integration::audit::Actor;
use samverkan::integration::work::Work;
use samverkan::resources::clients::{self, NewClient};
use samverkan::store::db::{self, Db};
use samverkan::store::embedded_pg::EmbeddedPostgres;
use sha2::{Digest, Sha256};

struct Server {
    /// URL of a database on the server we may create databases from.
    maintenance_url: String,
    template: String,
    file_copy: bool,
    _cluster: Option<EmbeddedPostgres>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        // Its own thread and runtime: the migration harness must not run inside a test's runtime.
        std::thread::spawn(start_server)
            .join()
            .expect("the test database server could not be prepared")
    })
}

/// Percent-encodes a query value (å, ä, ö and spaces).
pub fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Replaces the database name of a postgres URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A name that changes whenever the schema or the reference data change.
fn template_name() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut hasher = Sha256::new();
    let mut files: Vec<_> = walk(&format!("{root}/migrations"));
    files.push(format!("{root}/src/seed.rs").into());
    files.sort();
    for f in files {
        hasher.update(f.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&f).unwrap_or_default());
    }
    format!("samverkan_tpl_{}", &hex::encode(hasher.finalize())[..16])
}

fn walk(dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path.to_string_lossy()));
        } else {
            out.push(path);
        }
    }
    out
}

fn start_server() -> Server {
    let (maintenance_url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => (url, None),
        _ => {
            let dir = std::env::temp_dir().join(format!("samverkan-test-{}", std::process::id()));
            let pg = EmbeddedPostgres::start(&dir).expect("start a throwaway PostgreSQL cluster");
            pg.discard_when_process_exits(std::process::id())
                .expect("watch the throwaway cluster");
            (pg.url_for("postgres"), Some(pg))
        }
    };
    let template = template_name();
    let file_copy = block_on(async {
        let mut conn = AsyncPgConnection::establish(&maintenance_url)
            .await
            .expect("connect to the test server");
        // Several test processes may share a server: one of them builds the template.
        conn.batch_execute("SELECT pg_advisory_lock(727272)")
            .await
            .expect("lock");
        let exists: i64 = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_database WHERE datname = '{template}'"
        ))
        .get_result::<Count>(&mut conn)
        .await
        .expect("look up the template")
        .n;
        if exists == 0 {
            let building = format!("{template}_building");
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                .await
                .expect("drop an unfinished template");
            conn.batch_execute(&format!("CREATE DATABASE {building}"))
                .await
                .expect("create the template");
            let url = with_database(&maintenance_url, &building);
            let url2 = url.clone();
            std::thread::spawn(move || db::migrate(&url2))
                .join()
                .expect("migration thread")
                .expect("migrate the template");
            {
                let mut tconn = AsyncPgConnection::establish(&url).await.expect("connect");
                samverkan::store::seed::reference_data(&mut tconn)
                    .await
                    .expect("seed the template");
            }
            conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
                .await
                .expect("publish the template");
        }
        let version: i64 =
            diesel::sql_query("SELECT current_setting('server_version_num')::bigint AS n")
                .get_result::<Count>(&mut conn)
                .await
                .expect("server version")
                .n;
        conn.batch_execute("SELECT pg_advisory_unlock(727272)")
            .await
            .expect("unlock");
        version >= 150000
    });
    Server {
        maintenance_url,
        template,
        file_copy,
        _cluster: cluster,
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A fresh database cloned from the template, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let server = server();
        let name = format!("samverkan_t_{}", uuid::Uuid::new_v4().simple());
        let strategy = if server.file_copy {
            " STRATEGY FILE_COPY"
        } else {
            ""
        };
        let mut conn = AsyncPgConnection::establish(&server.maintenance_url)
            .await
            .expect("connect to the test server");
        conn.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE {}{strategy}",
            server.template
        ))
        .await
        .expect("clone the template");
        let url = with_database(&server.maintenance_url, &name);
        Self { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = server().maintenance_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&url).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            })
        })
        .join();
    }
}

/// One signing key for the whole test run.
pub fn signing_key() -> &'static ed25519_dalek::SigningKey {
    static KEY: OnceLock<ed25519_dalek::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
}

pub const TEST_KID: &str = "test-key";

pub fn test_keys() -> SigningKeys {
    SigningKeys::from_keys(signing_key().clone(), Some(TEST_KID.to_owned()), None).expect("keys")
}

pub fn test_config() -> Config {
    let mut config = Config::from_lookup(|_| None).expect("default config");
    config.pool = PoolSettings {
        max_size: 4,
        timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    };
    // The pool is tiny here, and some tests send many concurrent requests as one client: the
    // per-client share is tested on its own (open_requests).
    config.open_limits.requests_per_client = 1000;
    config
}

/// The real app on its own database, with a reader's token at hand.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub config: Config,
    /// A token with the `read` scope, sent by [`TestApp::get`].
    pub reader: String,
}

impl TestApp {
    /// Loads the demo data (`samverkan seed --demo`) into this app's database.
    pub async fn load_demo(&self) {
        let mut conn = AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("connect");
        samverkan::store::seed::demo_data(&mut conn)
            .await
            .expect("demo data");
    }

    /// Runs SQL on this app's database: test data written past the API.
    pub async fn execute(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("connect");
        conn.batch_execute(sql).await.expect("the test's SQL");
    }

    /// The number a `SELECT count(*) AS n …` on this app's database gives.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("connect");
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .await
            .expect("the test's count")
            .n
    }

    pub async fn new() -> Self {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let db = TestDb::new().await;
        Self::on(db, config).await
    }

    /// A second replica: another app, with its own pool, on the same database.
    pub async fn replica(&self) -> AppState {
        let pool = Db::new(&self.db.url, &self.config.pool).expect("pool");
        AppState::new(pool, &self.config, test_keys()).expect("app state")
    }

    async fn on(db: TestDb, config: Config) -> Self {
        let pool = Db::new(&db.url, &config.pool).expect("pool");
        let state = AppState::new(pool, &config, test_keys()).expect("app state");
        let mut app = Self {
            state,
            db,
            config,
            reader: String::new(),
        };
        app.reader = app.token(&[Scope::Read], None).await;
        app
    }

    /// Creates a client; returns its id and secret.
    pub async fn client(
        &self,
        scopes: &[Scope],
        municipality: Option<&str>,
    ) -> (uuid::Uuid, String) {
        let mut conn = AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("connect");
        let new = NewClient {
            name: format!("test client {}", uuid::Uuid::new_v4().simple()),
            scopes: scopes.to_vec(),
            municipality_id: municipality.map(str::to_owned),
            acts_for_users: false,
        };
        let credentials = clients::prepare(&new).await.expect("credentials");
        let created = Work::run_on(&mut conn, Actor::command_line(), None, None, async |work| {
            clients::create(work, new, credentials).await
        })
        .await
        .expect("create a client");
        (created.client_id, created.client_secret)
    }

    /// A valid access token of a new client with these scopes.
    pub async fn token(&self, scopes: &[Scope], municipality: Option<&str>) -> String {
        let (id, _) = self.client(scopes, municipality).await;
        self.token_for(id, scopes, municipality)
    }

    pub fn token_for(
        &self,
        id: uuid::Uuid,
        scopes: &[Scope],
        municipality: Option<&str>,
    ) -> String {
        let client = VerifiedClient {
            id,
            scopes: scopes.to_vec(),
            municipality_id: municipality.map(str::to_owned),
            acts_for_users: false,
        };
        token::issue(self.state.authenticator(), &client, scopes)
            .expect("issue a token")
            .access_token
    }

    /// Serves this app's database over real TCP: a second replica with `self.config` on a free
    /// port of 127.0.0.1, one worker. Returns the port.
    pub async fn listen(&self) -> u16 {
        let mut config = self.config.clone();
        config.bind = "127.0.0.1:0".parse().expect("address");
        config.workers = 1;
        let server = app::Application::build(&config, self.replica().await).expect("server");
        let port = server.port();
        actix_web::rt::spawn(server.run_until_stopped());
        port
    }

    /// Sends a request with this bearer token.
    pub async fn call_as(&self, token: &str, req: TestRequest) -> Res {
        self.call(req.insert_header(("Authorization", format!("Bearer {token}"))))
            .await
    }

    /// An app whose database cannot be reached (nothing listens on the port).
    pub fn unreachable_database(timeout: Duration) -> (AppState, String) {
        let mut config = test_config();
        config.pool.timeout = timeout;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("postgres://nobody:nothing@127.0.0.1:{port}/none");
        let state = AppState::new(
            Db::new(&url, &config.pool).expect("pool"),
            &config,
            test_keys(),
        )
        .expect("app state");
        // A token needs no database to be checked, but its client's status does: the outage
        // answers 503 either way.
        let client = VerifiedClient {
            id: uuid::Uuid::new_v4(),
            scopes: vec![Scope::Read],
            municipality_id: None,
            acts_for_users: false,
        };
        let token = token::issue(state.authenticator(), &client, &[Scope::Read])
            .expect("token")
            .access_token;
        (state, token)
    }

    pub async fn call(&self, req: TestRequest) -> Res {
        call(&self.state, req).await
    }

    /// A GET with the reader's token.
    pub async fn get(&self, uri: &str) -> Res {
        self.call_as(&self.reader, TestRequest::get().uri(uri))
            .await
    }
}

/// Sends one request through the complete app.
pub async fn call(state: &AppState, req: TestRequest) -> Res {
    let svc = test::init_service(app::build(state)).await;
    call_on(&svc, req).await
}

/// A started app, to send many (concurrent) requests to.
pub async fn service(
    state: &AppState,
) -> impl actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
    Error = actix_web::Error,
> {
    test::init_service(app::build(state)).await
}

/// Sends one request to a started app.
pub async fn call_on<S>(svc: &S, req: TestRequest) -> Res
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
        >,
{
    let res = test::call_service(svc, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await.to_vec();
    Res {
        status,
        headers,
        body,
    }
}

#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a problem+json answer with this status and type, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, type_: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.text()
        );
        let p = self.json();
        assert_eq!(p["type"], format!("/problems/{type_}"), "{p}");
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].is_string(), "{p}");
        assert!(p["requestId"].is_string(), "{p}");
        assert_eq!(
            p["requestId"].as_str(),
            self.header("x-request-id"),
            "problem and header carry the same request id"
        );
        p
    }
}

/// The violations' field names of a problem.
pub fn violation_fields(problem: &serde_json::Value) -> Vec<String> {
    problem["violations"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits, when the current minute has less than 10 s left, until the next one begins: rate
/// budgets are counted in one-minute windows, and a test that counts exactly must not straddle
/// two of them.
pub async fn fresh_rate_window() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let into_minute = now.as_millis() % 60_000;
    if into_minute >= 50_000 {
        let wait = 60_000 - into_minute as u64 + 200;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// The Chromium the browser tests run (headless), found on the `PATH`.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "a Chromium for the browser tests: `apt-get install chromium` (.ci/run installs it)",
        )
}

/// The violations of a bulk load's problem as `(line, field)`.
pub fn violation_lines(problem: &serde_json::Value) -> Vec<(u64, String)> {
    problem["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().expect("line"),
                v["field"].as_str().expect("field").to_owned(),
            )
        })
        .collect()
}
