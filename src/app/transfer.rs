//! `samverkan import` and `samverkan export`: the bulk-load endpoints for scripts, over HTTP(S).
//!
//! They sign in as an API client (client id and secret; tokens are fetched and renewed as
//! needed) or with a token. Exit codes: 0 done, 1 the service refused (the file's problems, a
//! bad filter), 2 usage, connection, sign-in or a server error (nothing was checked).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use indicatif::{ProgressBar, ProgressStyle};

/// How a command ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (exit 0).
    Done,
    /// The service refused the request: the problems were printed (exit 1).
    Refused,
}

/// Where the service is and how to sign in.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The service's base URL, e.g. https://samverkan.example.se
    #[arg(long, env = "SAMVERKAN_URL")]
    pub url: String,
    /// The API client's id; its secret comes from SAMVERKAN_CLIENT_SECRET or
    /// --client-secret-file (never from the command line). Tokens are fetched and renewed.
    #[arg(long, env = "SAMVERKAN_CLIENT_ID")]
    pub client_id: Option<String>,
    /// A file holding the client's secret (its first line).
    #[arg(long, env = "SAMVERKAN_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Or an access token (15 minutes), instead of a client id and secret.
    #[arg(long, env = "SAMVERKAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Signs requests: a given token, or the client's, fetched when missing or about to expire.
pub struct Session {
    url: String,
    agent: ureq::Agent,
    sign_in: SignIn,
}

enum SignIn {
    Token(String),
    Client {
        id: String,
        secret: String,
        scope: &'static str,
        current: Option<(String, Instant)>,
    },
}

impl Session {
    /// A session asking for `scope` (a client's token is narrowed to it).
    pub fn new(connection: &Connection, scope: &'static str) -> anyhow::Result<Self> {
        let sign_in = match (&connection.client_id, &connection.token) {
            (Some(id), _) => {
                let secret = match (
                    &connection.client_secret_file,
                    std::env::var("SAMVERKAN_CLIENT_SECRET"),
                ) {
                    (Some(file), _) => std::fs::read_to_string(file)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                    (None, Ok(secret)) => secret.trim().to_owned(),
                    (None, Err(_)) => anyhow::bail!(
                        "--client-id needs its secret: set SAMVERKAN_CLIENT_SECRET or --client-secret-file"
                    ),
                };
                if secret.is_empty() {
                    anyhow::bail!("the client secret is empty");
                }
                SignIn::Client {
                    id: id.clone(),
                    secret,
                    scope,
                    current: None,
                }
            }
            (None, Some(token)) => SignIn::Token(token.clone()),
            (None, None) => anyhow::bail!(
                "sign in with --client-id (and SAMVERKAN_CLIENT_SECRET or --client-secret-file) or --token"
            ),
        };
        Ok(Session {
            url: connection.url.trim_end_matches('/').to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(3600)))
                .build()
                .new_agent(),
            sign_in,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `Bearer …` for the next request: a client's token is renewed a minute before it expires.
    fn authorization(&mut self) -> anyhow::Result<String> {
        let token_url = self.endpoint("/v1/oauth/token");
        match &mut self.sign_in {
            SignIn::Token(token) => Ok(format!("Bearer {token}")),
            SignIn::Client {
                id,
                secret,
                scope,
                current,
            } => {
                if let Some((token, until)) = current {
                    if Instant::now() + Duration::from_secs(60) < *until {
                        return Ok(format!("Bearer {token}"));
                    }
                }
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
                    form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
                ));
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("scope", scope)
                    .finish();
                let mut response = self
                    .agent
                    .post(&token_url)
                    .header("Authorization", &format!("Basic {basic}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(form)
                    .map_err(|e| anyhow::anyhow!("cannot reach {token_url}: {e}"))?;
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let (Some(token), 200) = (body["access_token"].as_str(), status) else {
                    anyhow::bail!(
                        "the client could not sign in ({status}): {}",
                        body["error_description"]
                            .as_str()
                            .or(body["error"].as_str())
                            .unwrap_or(&text)
                    );
                };
                let lasts = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(60));
                *current = Some((token.to_owned(), Instant::now() + lasts));
                Ok(format!("Bearer {token}"))
            }
        }
    }
}

/// A problem document's sentence and its violations, printed to standard error.
fn report_refusal(what: &str, status: u16, body: &serde_json::Value) {
    eprintln!(
        "samverkan: the {what} was refused ({status}): {}",
        body["detail"]
            .as_str()
            .or(body["title"].as_str())
            .unwrap_or("no details")
    );
    for v in body["violations"].as_array().into_iter().flatten() {
        let line = v["line"]
            .as_u64()
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        eprintln!(
            "  {line}{}: {}",
            v["field"].as_str().unwrap_or("?"),
            v["message"].as_str().unwrap_or("")
        );
    }
}

/// An answer that is neither success nor the client's mistake: the command could not be done.
fn server_trouble(what: &str, status: u16, body: &serde_json::Value) -> anyhow::Error {
    anyhow::anyhow!(
        "the {what} could not be done ({status}): {}",
        body["detail"]
            .as_str()
            .or(body["title"].as_str())
            .unwrap_or("the service did not say why")
    )
}

/// The problems of a refused load as a CSV file that Excel opens beside the original
/// (UTF-8 with BOM, `;`): `Rad;Kolumn;Problem`, one row per problem, in the file's order.
fn write_problems(path: &Path, body: &serde_json::Value) -> anyhow::Result<()> {
    use crate::integration::export::csv_record;
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(csv_record(["Rad", "Kolumn", "Problem"].map(str::to_owned)));
    for v in body["violations"].as_array().into_iter().flatten() {
        out.extend(csv_record([
            v["line"]
                .as_u64()
                .map(|l| l.to_string())
                .unwrap_or_default(),
            v["field"].as_str().unwrap_or_default().to_owned(),
            v["message"].as_str().unwrap_or_default().to_owned(),
        ]));
    }
    std::fs::write(path, out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Counts the lines read through it, and says when the file has been sent.
struct Sending<R> {
    inner: R,
    lines: u64,
    bar: ProgressBar,
    terminal: bool,
    sent: bool,
}

impl<R: Read> Read for Sending<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.bar.inc(n as u64);
        if n > 0 {
            self.bar
                .set_message(format!("Sending: {} lines", self.lines));
        } else if !self.sent {
            // The second phase: the server checks every line, then writes.
            self.sent = true;
            let message = format!(
                "Sent {} lines; the service is checking and writing them",
                self.lines
            );
            if self.terminal {
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                self.bar.set_message(message);
                self.bar.enable_steady_tick(Duration::from_millis(200));
            } else {
                eprintln!("samverkan: {message}");
            }
        }
        Ok(n)
    }
}

/// Streams `file` to `POST /v1/imports/{collection}`, showing both phases (sending, then the
/// service's checks and write). Prints what happened, or every problem (and writes them to
/// `problems` when given).
pub fn import(
    connection: &Connection,
    collection: &str,
    file: &Path,
    dry_run: bool,
    problems: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let mut session = Session::new(connection, "import")?;
    let content_type = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("ndjson" | "jsonl") => "application/x-ndjson",
        _ => "text/csv",
    };
    let size = std::fs::metadata(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
        .len();
    let opened = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let authorization = session.authorization()?;
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        eprintln!(
            "samverkan: sending {} ({size} bytes) to {collection}",
            file.display()
        );
        ProgressBar::hidden()
    };
    let mut reader = Sending {
        inner: opened,
        lines: 0,
        bar: bar.clone(),
        terminal,
        sent: false,
    };
    let endpoint = session.endpoint(&format!(
        "/v1/imports/{collection}{}",
        if dry_run { "?dryRun=true" } else { "" }
    ));
    let started = Instant::now();
    let mut response = session
        .agent
        .post(&endpoint)
        .header("Authorization", &authorization)
        .header("Content-Type", content_type)
        .send(ureq::SendBody::from_reader(&mut reader as &mut dyn Read))
        .map_err(|e| anyhow::anyhow!("cannot reach {endpoint}: {e}"))?;
    bar.finish_and_clear();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if let Some(path) = problems {
        write_problems(path, &body)?;
    }
    if status == 200 {
        let n = |k: &str| body[k].as_u64().unwrap_or(0);
        println!(
            "{}{collection}: {} rows; {} created, {} updated, {} unchanged ({:.1} s)",
            if dry_run {
                "dry run, nothing written: "
            } else {
                ""
            },
            n("rows"),
            n("created"),
            n("updated"),
            n("unchanged"),
            started.elapsed().as_secs_f64()
        );
        for (what, key) in [("create", "created"), ("update", "updated")] {
            let runs: Vec<String> = body["lines"][key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|run| Some((run[0].as_u64()?, run[1].as_u64()?)))
                .map(|(first, last)| match first == last {
                    true => first.to_string(),
                    false => format!("{first}-{last}"),
                })
                .collect();
            if !runs.is_empty() {
                let more = if runs.len() > 20 { ", …" } else { "" };
                println!(
                    "  would {what} lines {}{more}",
                    runs[..runs.len().min(20)].join(", ")
                );
            }
        }
        return Ok(Outcome::Done);
    }
    if !(400..500).contains(&status) {
        return Err(server_trouble("load", status, &body));
    }
    report_refusal("load", status, &body);
    if let Some(path) = problems {
        eprintln!("samverkan: the problems are in {}", path.display());
    }
    Ok(Outcome::Refused)
}

/// What to export and how.
pub struct ExportRequest<'a> {
    pub collection: &'a str,
    pub format: &'a str,
    /// The list's filters, `name=value` (`year=2022`).
    pub filters: &'a [String],
    /// `sv`: Swedish headers and labels (CSV).
    pub labels: Option<&'a str>,
    /// For `members`: one network's (all networks' when absent).
    pub network: Option<&'a str>,
}

/// Streams a collection as CSV or NDJSON from its list endpoint into `out`. `members` are
/// exported per network: one network's, or every network's one after the other in one file
/// (one header row), each row naming its network, so that the file loads back.
pub fn export(
    connection: &Connection,
    request: &ExportRequest<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let accept = match request.format {
        "csv" => "text/csv",
        "ndjson" => "application/x-ndjson",
        other => anyhow::bail!("--format must be csv or ndjson, not {other:?}"),
    };
    let mut query: Vec<(String, String)> = Vec::new();
    for filter in request.filters {
        let Some((name, value)) = filter.split_once('=') else {
            anyhow::bail!("--filter takes name=value (e.g. year=2022), not {filter:?}");
        };
        query.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    if let Some(labels) = request.labels {
        query.push(("labels".to_owned(), labels.to_owned()));
    }
    let mut session = Session::new(connection, "read")?;
    let paths: Vec<String> = match (request.collection, request.network) {
        ("members", Some(network)) => vec![format!("/v1/networks/{network}/members")],
        ("members", None) => network_ids(&mut session)?
            .into_iter()
            .map(|id| format!("/v1/networks/{id}/members"))
            .collect(),
        (_, Some(_)) => anyhow::bail!("--network is for members"),
        (
            "networks" | "assignments" | "feedback" | "progress-reports" | "municipalities"
            | "areas",
            None,
        ) => vec![format!("/v1/{}", request.collection)],
        (other, None) => anyhow::bail!(
            "cannot export {other:?}: collections are networks, members, assignments, progress-reports, feedback, municipalities, areas"
        ),
    };
    for (i, path) in paths.iter().enumerate() {
        let endpoint = session.endpoint(path);
        let authorization = session.authorization()?;
        let mut response = session
            .agent
            .get(&endpoint)
            .query_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .header("Authorization", &authorization)
            .header("Accept", accept)
            .call()
            .map_err(|e| anyhow::anyhow!("cannot reach {endpoint}: {e}"))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if !(400..500).contains(&status) {
                return Err(server_trouble("export", status, &body));
            }
            report_refusal("export", status, &body);
            return Ok(Outcome::Refused);
        }
        let mut reader = std::io::BufReader::new(response.body_mut().as_reader());
        if i > 0 && accept == "text/csv" {
            // One header row for the whole file: the next network's is skipped.
            let mut header = Vec::new();
            std::io::BufRead::read_until(&mut reader, b'\n', &mut header)?;
        }
        std::io::copy(&mut reader, out)?;
    }
    out.flush()?;
    Ok(Outcome::Done)
}

/// The ids of every network, from its NDJSON export.
fn network_ids(session: &mut Session) -> anyhow::Result<Vec<String>> {
    let endpoint = session.endpoint("/v1/networks");
    let authorization = session.authorization()?;
    let mut response = session
        .agent
        .get(&endpoint)
        .header("Authorization", &authorization)
        .header("Accept", "application/x-ndjson")
        .call()
        .map_err(|e| anyhow::anyhow!("cannot reach {endpoint}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if status != 200 {
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        return Err(server_trouble("list of networks", status, &body));
    }
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect())
}
