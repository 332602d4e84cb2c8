//! The command line: `serve` (the default), `migrate`, `seed`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::openapi;
use crate::app::{AppState, Application};
use crate::auth::keys::SigningKeys;
use crate::config::{Config, DatabaseSource};
use crate::store::db::{self, Db};
use crate::store::embedded_pg::EmbeddedPostgres;
use crate::store::seed;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "samverkan",
    version,
    about = "Samverkan API: the data service of Kommunförbundet Västernorrland",
    long_about = "Samverkan API: the data service of Kommunförbundet Västernorrland.\n\n\
Configuration comes from the environment (see .env.example). Without DATABASE_URL the service \
runs its own PostgreSQL cluster under SAMVERKAN_DATA_DIR (default ./.samverkan)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate, seed the reference data and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration, the database (reachable, version, migrations, Swedish
    /// collation and text search, pg_trgm), the clock against the database's and the signing
    /// key, on one screen; change nothing. Exit code 1 when a check fails.
    Doctor,
    /// Add missing reference data (municipalities, areas, the 2022 plan) and exit.
    Seed {
        /// Also load demo data drawn from the association's documents.
        #[arg(long)]
        demo: bool,
    },
    /// Manage API clients.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Bulk-load a CSV or NDJSON file into a collection over HTTP(S). Exit codes: 0 loaded
    /// (or, with --dry-run, would load), 1 refused (the problems are listed), 2 usage,
    /// connection, sign-in or a server error.
    Import {
        #[command(flatten)]
        connection: crate::app::transfer::Connection,
        /// Validate only; write nothing (and say what would be created, updated, unchanged).
        #[arg(long)]
        dry_run: bool,
        /// Write the problems of a refused file to this CSV file (Rad;Kolumn;Problem), for
        /// Excel beside the original.
        #[arg(long, value_name = "FILE")]
        problems: Option<PathBuf>,
        /// networks, members, assignments, progress-reports or feedback.
        collection: String,
        /// The file (.csv, or .ndjson/.jsonl).
        file: PathBuf,
    },
    /// Write a collection as CSV or NDJSON (to standard output, or to --output). Exit codes as
    /// for import.
    Export {
        #[command(flatten)]
        connection: crate::app::transfer::Connection,
        /// csv or ndjson.
        #[arg(long, default_value = "csv")]
        format: String,
        /// A filter of the collection's list, name=value (repeatable): --filter year=2022
        /// --filter goal=focus.
        #[arg(long, value_name = "NAME=VALUE")]
        filter: Vec<String>,
        /// sv: Swedish column headers and labels (CSV); the file loads back the same.
        #[arg(long)]
        labels: Option<String>,
        /// For members: only this network's (every network's when absent).
        #[arg(long, value_name = "NETWORK_ID")]
        network: Option<String>,
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// networks, members, assignments, progress-reports, feedback, municipalities or areas.
        collection: String,
    },
    /// Migrate the database and write the diesel schema of its tables (to standard output, or
    /// to --output), as `diesel print-schema` would.
    Schema {
        /// File to write, e.g. src/store/schema.rs.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write the OpenAPI document (to standard output, or to --output).
    Openapi {
        /// File to write, e.g. openapi/openapi.json.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create a client and print `{"clientId": ..., "clientSecret": ...}` (the secret is shown once).
    Create {
        /// What the client is, e.g. "Sundsvalls intranät".
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, import, admin, metrics.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Bind the client to one municipality (kommunkod), e.g. 2281.
        #[arg(long)]
        municipality: Option<String>,
        /// Let the client say on whose behalf it writes (`X-Sent-By`).
        #[arg(long)]
        acts_for_users: bool,
    },
    /// List every client as JSON lines.
    List,
    /// Disable a client; its tokens stop working within a minute.
    Disable {
        /// The client id.
        id: String,
    },
    /// Enable a disabled client again.
    Enable {
        /// The client id.
        id: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Openapi { output }) => return write_openapi(output.as_ref()),
        Some(Command::Import {
            connection,
            dry_run,
            problems,
            collection,
            file,
        }) => {
            return outcome(crate::app::transfer::import(
                connection,
                collection,
                file,
                *dry_run,
                problems.as_deref(),
            ));
        }
        Some(Command::Export {
            connection,
            format,
            filter,
            labels,
            network,
            output,
            collection,
        }) => {
            let request = crate::app::transfer::ExportRequest {
                collection,
                format,
                filters: filter,
                labels: labels.as_deref(),
                network: network.as_deref(),
            };
            let result = match output {
                Some(path) => std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
                    .and_then(|mut f| crate::app::transfer::export(connection, &request, &mut f)),
                None => crate::app::transfer::export(
                    connection,
                    &request,
                    &mut std::io::stdout().lock(),
                ),
            };
            return outcome(result);
        }
        _ => {}
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("samverkan: {e}");
            return ExitCode::from(2);
        }
    };
    let logs = telemetry::init(&config.log_level, config.log_format);
    let result = run(cli.command.unwrap_or(Command::Serve), config);
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "samverkan stopped");
    }
    logs.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samverkan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// 0 done, 1 refused by the service, 2 usage, connection, sign-in or server error.
fn outcome(result: anyhow::Result<crate::app::transfer::Outcome>) -> ExitCode {
    match result {
        Ok(crate::app::transfer::Outcome::Done) => ExitCode::SUCCESS,
        Ok(crate::app::transfer::Outcome::Refused) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("samverkan: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn write_openapi(output: Option<&PathBuf>) -> ExitCode {
    let json = openapi::to_pretty_json(&openapi::document());
    let result = match output {
        Some(path) => std::fs::write(path, json),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(json.as_bytes())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samverkan: cannot write the OpenAPI document: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Stops the embedded cluster when the command ends, however it ends.
struct Database {
    url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    fn open(config: &Config) -> anyhow::Result<Self> {
        match &config.database {
            DatabaseSource::Url(url) => Ok(Self {
                url: url.clone(),
                embedded: None,
            }),
            DatabaseSource::Embedded => {
                let pg = EmbeddedPostgres::start(&config.data_dir)?;
                Ok(Self {
                    url: pg.url(),
                    embedded: Some(pg),
                })
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(pg) = self.embedded.take().filter(EmbeddedPostgres::started_here) {
            if let Err(e) = pg.stop() {
                tracing::error!(error = %format!("{e:#}"), "could not stop the embedded PostgreSQL");
            }
        }
    }
}

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config)?;
    if matches!(command, Command::Doctor) {
        return doctor(&config, &database.url);
    }
    let applied = db::migrate(&database.url)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    if matches!(command, Command::Migrate) {
        return Ok(());
    }
    if let Command::Schema { output } = &command {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let schema = runtime.block_on(async {
            let mut conn = crate::store::db::connect(&database.url).await?;
            crate::store::print_schema::print(&mut conn).await
        })?;
        return match output {
            Some(path) => Ok(std::fs::write(path, schema)?),
            None => {
                print!("{schema}");
                Ok(())
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let demo = matches!(command, Command::Seed { demo: true });
    let report = runtime.block_on(async {
        let mut conn = crate::store::db::connect(&database.url).await?;
        let report = seed::reference_data(&mut conn).await?;
        if demo {
            seed::demo_data(&mut conn).await?;
            tracing::info!("demo data loaded");
        }
        anyhow::Ok(report)
    })?;
    drop(runtime);
    tracing::info!(?report, "reference data seeded");
    match command {
        Command::Clients { command } => clients_command(command, &database.url),
        Command::Seed { .. } => Ok(()),
        Command::Serve => serve(&config, &database.url),
        Command::Migrate
        | Command::Doctor
        | Command::Schema { .. }
        | Command::Openapi { .. }
        | Command::Import { .. }
        | Command::Export { .. } => Ok(()),
    }
}

/// Gives the memory start-up used and freed back to the system: building the OpenAPI document
/// (as a JSON tree, for its examples), the route table and each worker's app allocates some
/// 30 MiB that glibc would otherwise keep for reuse, so that the service ran at twice its
/// working size (53 MiB instead of about 22 MiB on GET by id under load).
fn release_start_up_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn doctor(config: &Config, url: &str) -> anyhow::Result<()> {
    use crate::app::doctor::{Status, examine};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let found = runtime.block_on(examine(config, url, config.pool.timeout));
    for f in &found {
        println!("{f}");
    }
    let failed = found.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

fn clients_command(command: ClientsCommand, url: &str) -> anyhow::Result<()> {
    use crate::integration::audit::Actor;
    use crate::integration::work::Work;
    use crate::resources::clients;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = crate::store::db::Db::new(url, &crate::config::PoolSettings::default())?;
        let show = |e: crate::error::ApiError| match e.problem().violations.as_slice() {
            [] => anyhow::anyhow!("{}", e.problem().detail.unwrap_or_else(|| e.to_string())),
            violations => anyhow::anyhow!(
                "{}",
                violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        match command {
            ClientsCommand::Create {
                name,
                scopes,
                municipality,
                acts_for_users,
            } => {
                let scopes = scopes
                    .iter()
                    .map(|s| s.trim().parse())
                    .collect::<Result<Vec<crate::auth::Scope>, _>>()
                    .map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
                let new = clients::NewClient {
                    name,
                    scopes,
                    municipality_id: municipality,
                    acts_for_users,
                };
                let credentials = clients::prepare(&new).await.map_err(show)?;
                let created = Work::run(&db, Actor::command_line(), None, None, async |work| {
                    clients::create(work, new, credentials).await
                })
                .await
                .map_err(show)?;
                println!(
                    "{}",
                    serde_json::json!({"clientId": created.client_id, "clientSecret": created.client_secret})
                );
            }
            ClientsCommand::List => {
                let mut conn = db.conn().await.map_err(show)?;
                for client in clients::list_all(&mut conn).await? {
                    println!("{}", serde_json::to_string(&client)?);
                }
            }
            ClientsCommand::Disable { id } => {
                let id = uuid::Uuid::parse_str(&id).map_err(|_| anyhow::anyhow!("{id} is not a client id"))?;
                let client = Work::run(&db, Actor::command_line(), None, None, async |work| {
                    clients::disable(work, id, clients::DisabledBy::Operator).await
                })
                .await
                .map_err(show)?;
                println!("{}", serde_json::to_string(&client)?);
            }
            ClientsCommand::Enable { id } => {
                let id = uuid::Uuid::parse_str(&id).map_err(|_| anyhow::anyhow!("{id} is not a client id"))?;
                let client = Work::run(&db, Actor::command_line(), None, None, async |work| {
                    clients::enable(work, id).await
                })
                .await
                .map_err(show)?;
                println!("{}", serde_json::to_string(&client)?);
            }
        }
        anyhow::Ok(())
    })
}

fn serve(config: &Config, url: &str) -> anyhow::Result<()> {
    let keys = SigningKeys::load(&config.jwt, &config.data_dir)?;
    if matches!(config.database, DatabaseSource::Url(_)) && config.jwt.key_file.is_none() {
        tracing::warn!(
            "no SAMVERKAN_JWT_KEY_FILE: tokens are signed with a key generated in the data \
             directory; replicas behind one load balancer must share one key file"
        );
    }
    actix_web::rt::System::new().block_on(async {
        let db = Db::new(url, &config.pool)?;
        let state = AppState::new(db, config, keys)?;
        // Webhooks are delivered beside the server; stopping the server stops them: attempts
        // under way finish and are recorded (a delivery cut short is made again by a replica
        // once its lease runs out).
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let dispatcher = config
            .webhooks
            .deliver
            .then(|| actix_web::rt::spawn(state.dispatcher().run(stopped)));
        let app = Application::build(config, state)?;
        release_start_up_memory();
        // Each worker builds its app (and with it the document's operations) as the server
        // starts: once they have, again.
        actix_web::rt::spawn(async {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            release_start_up_memory();
        });
        tracing::info!(
            address = %format!("http://{}:{}", config.bind.ip(), app.port()),
            docs = %format!("http://{}:{}/docs/", config.bind.ip(), app.port()),
            "Samverkan API is listening"
        );
        app.run_until_stopped().await?;
        let _ = stop.send(true);
        if let Some(dispatcher) = dispatcher {
            let _ = dispatcher.await;
        }
        tracing::info!("shut down gracefully");
        anyhow::Ok(())
    })
}
