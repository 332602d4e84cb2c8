//! `samverkan import` and `samverkan export`: the bulk-load endpoints for scripts, over HTTP(S).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .new_agent()
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Streams `file` to `POST {url}/v1/imports/{collection}`. Prints what happened; errors list
/// every bad line. Returns whether the load succeeded.
pub fn import(
    url: &str,
    token: &str,
    collection: &str,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<bool> {
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
        bar.set_message(format!("Loading {collection}"));
        bar
    } else {
        eprintln!(
            "samverkan: sending {} ({size} bytes) to {collection}",
            file.display()
        );
        ProgressBar::hidden()
    };
    let mut reader = bar.wrap_read(opened);
    let endpoint = format!(
        "{}/v1/imports/{collection}{}",
        base(url),
        if dry_run { "?dryRun=true" } else { "" }
    );
    let mut response = agent()
        .post(&endpoint)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(ureq::SendBody::from_reader(&mut reader as &mut dyn Read))
        .map_err(|e| anyhow::anyhow!("cannot reach {endpoint}: {e}"))?;
    bar.finish_and_clear();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if status == 200 {
        let n = |k: &str| body[k].as_u64().unwrap_or(0);
        println!(
            "{}{collection}: {} rows; {} created, {} updated, {} unchanged",
            if dry_run {
                "dry run, nothing written: "
            } else {
                ""
            },
            n("rows"),
            n("created"),
            n("updated"),
            n("unchanged")
        );
        return Ok(true);
    }
    eprintln!(
        "samverkan: the load was refused ({status}): {}",
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
    Ok(false)
}

/// Streams a collection as CSV or NDJSON from the list endpoint into `out`.
pub fn export(
    url: &str,
    token: &str,
    collection: &str,
    format: &str,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let path = match collection {
        "networks" | "assignments" | "feedback" | "progress-reports" | "municipalities"
        | "areas" => collection,
        other => anyhow::bail!(
            "cannot export {other:?}: collections are networks, assignments, progress-reports, feedback, municipalities, areas (members: GET /v1/networks/{{id}}/members)"
        ),
    };
    let accept = match format {
        "csv" => "text/csv",
        "ndjson" => "application/x-ndjson",
        other => anyhow::bail!("--format must be csv or ndjson, not {other:?}"),
    };
    let endpoint = format!("{}/v1/{path}", base(url));
    let mut response = agent()
        .get(&endpoint)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", accept)
        .call()
        .map_err(|e| anyhow::anyhow!("cannot reach {endpoint}: {e}"))?;
    if response.status().as_u16() != 200 {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        eprintln!(
            "samverkan: the export was refused ({}): {text}",
            response.status()
        );
        return Ok(false);
    }
    let mut reader = response.body_mut().as_reader();
    std::io::copy(&mut reader, out)?;
    out.flush()?;
    Ok(true)
}
