//! Lists as exports: `Accept: text/csv` (UTF-8 with BOM, `;`-separated, CRLF, so Swedish Excel
//! opens it as is) or `application/x-ndjson` stream every matching row instead of one page.
//! Rows go out as the database produces them; memory stays flat whatever the row count.

use std::marker::PhantomData;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Ndjson,
}

/// Picks the representation from `Accept` (highest q wins; JSON when absent or `*/*`).
pub fn negotiate(req: &HttpRequest) -> Result<Format, ApiError> {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(Format::Json);
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "application/json" | "application/*" | "*/*" => Format::Json,
            "text/csv" | "text/*" => Format::Csv,
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Format::Ndjson,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, format));
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| {
        ApiError::NotAcceptable(
            "This list can be had as application/json, text/csv or application/x-ndjson".to_owned(),
        )
    })
}

/// Where a producer writes the rows of an export.
pub struct Sink<T> {
    tx: mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    format: Format,
    columns: Vec<String>,
    _rows: PhantomData<T>,
}

impl<T: Serialize> Sink<T> {
    /// Writes one row; `false` when the client has gone away (stop producing).
    pub async fn send(&mut self, row: &T) -> bool {
        let bytes = match self.format {
            Format::Csv => csv_line(&self.columns, row),
            _ => {
                let mut line = serde_json::to_vec(row).unwrap_or_default();
                line.push(b'\n');
                line
            }
        };
        self.tx.send(Ok(bytes.into())).await.is_ok()
    }
}

/// The CSV columns of `T`: its schema's properties, in declaration order.
fn columns<T: ToSchema>() -> Vec<String> {
    match T::schema() {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) => {
            object.properties.keys().cloned().collect()
        }
        _ => Vec::new(),
    }
}

fn csv_line<T: Serialize>(columns: &[String], row: &T) -> Vec<u8> {
    let value = serde_json::to_value(row).unwrap_or_default();
    let cells = columns.iter().map(|c| cell(value.get(c)));
    csv_record(cells)
}

/// One CSV cell: lists are `|`-separated; suggestion-like objects are `kind:text`.
fn cell(value: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => match (o.get("kind"), o.get("text")) {
                    (Some(Value::String(k)), Some(Value::String(t))) => format!("{k}:{t}"),
                    _ => item.to_string(),
                },
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|"),
        Some(other) => other.to_string(),
    }
}

fn csv_record(cells: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let cells: Vec<String> = cells.into_iter().collect();
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

/// Answers an export: spawns `produce`, which writes rows into the sink, and streams them.
/// Acquire the database connection before calling this, so an outage is still a 503.
pub fn respond<T, F, Fut>(format: Format, name: &str, produce: F) -> HttpResponse
where
    T: Serialize + ToSchema + 'static,
    F: FnOnce(Sink<T>) -> Fut + 'static,
    Fut: Future<Output = Result<(), ApiError>> + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<web::Bytes, std::io::Error>>(64);
    let columns = columns::<T>();
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("application/x-ndjson", "ndjson"),
    };
    if format == Format::Csv {
        let mut head = "\u{feff}".as_bytes().to_vec();
        head.extend(csv_record(columns.iter().cloned()));
        let _ = tx.try_send(Ok(head.into()));
    }
    let sink = Sink {
        tx: tx.clone(),
        format,
        columns,
        _rows: PhantomData,
    };
    actix_web::rt::spawn(async move {
        if let Err(err) = produce(sink).await {
            tracing::error!(error = %err, "export failed midway");
            let _ = tx
                .send(Err(std::io::Error::other("the export failed midway")))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.{extension}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_flatten_lists_the_way_imports_read_them() {
        let v = serde_json::json!({"ids": ["2281", "2262"], "s": [{"kind": "advocacy", "text": "Nära vård"}], "n": 5, "x": null});
        assert_eq!(cell(v.get("ids")), "2281|2262");
        assert_eq!(cell(v.get("s")), "advocacy:Nära vård");
        assert_eq!(cell(v.get("n")), "5");
        assert_eq!(cell(v.get("x")), "");
    }

    #[test]
    fn csv_quotes_separators_and_newlines() {
        let line = csv_record([
            "a;b".to_owned(),
            "rad 1\nrad 2".to_owned(),
            "Åre".to_owned(),
        ]);
        assert_eq!(
            String::from_utf8(line).expect("utf-8"),
            "\"a;b\";\"rad 1\nrad 2\";Åre\r\n"
        );
    }

    #[test]
    fn accept_picks_the_preferred_format() {
        let req = |accept: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT, accept))
                .to_http_request()
        };
        assert_eq!(negotiate(&req("text/csv")).ok(), Some(Format::Csv));
        assert_eq!(
            negotiate(&req("application/x-ndjson")).ok(),
            Some(Format::Ndjson)
        );
        assert_eq!(
            negotiate(&req("text/csv;q=0.5, application/json")).ok(),
            Some(Format::Json)
        );
        assert_eq!(negotiate(&req("*/*")).ok(), Some(Format::Json));
        assert!(negotiate(&req("image/png")).is_err());
    }
}
