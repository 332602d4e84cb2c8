//! Lists as exports: `Accept: text/csv` (UTF-8 with BOM, `;`-separated, CRLF, so Swedish Excel
//! opens it as is) or `application/x-ndjson` stream every matching row instead of one page.
//! Rows go out as the database produces them; memory stays flat whatever the row count.

use std::marker::PhantomData;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::rules::labels::{self, Vocabularies, Vocabulary};

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

/// Where a producer writes the rows of an export: a temporary file, so that the database
/// connection is held only while PostgreSQL produces the rows, never while a slow client reads.
pub struct Sink<T> {
    file: std::io::BufWriter<std::fs::File>,
    format: Format,
    columns: Vec<String>,
    /// With `labels=sv`: the Swedish labels of each column's values.
    labels: Option<Vec<Labels>>,
    failed: Option<std::io::Error>,
    _rows: PhantomData<T>,
}

impl<T: Serialize> Sink<T> {
    /// Writes every row of a database stream, converted for the wire, and hands the sink back.
    pub async fn drain<R, S>(mut self, rows: S, convert: impl Fn(R) -> T) -> Result<Self, ApiError>
    where
        S: futures_util::Stream<Item = diesel::QueryResult<R>>,
    {
        use futures_util::TryStreamExt;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            if !self.send(&convert(row)).await {
                break;
            }
        }
        Ok(self)
    }

    /// Writes one row; `false` when it cannot be written (stop producing).
    pub async fn send(&mut self, row: &T) -> bool {
        use std::io::Write;
        let bytes = match self.format {
            Format::Csv => csv_line(&self.columns, self.labels.as_deref(), row),
            _ => {
                let mut line = serde_json::to_vec(row).unwrap_or_default();
                line.push(b'\n');
                line
            }
        };
        match self.file.write_all(&bytes) {
            Ok(()) => true,
            Err(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}

/// What an export needs of the request: who asks (exports are limited per client) and the
/// replica's budgets for requests that stay open long.
pub struct Exporter {
    client: uuid::Uuid,
    open: std::sync::Arc<crate::http::ratelimit::OpenRequests>,
    /// The vocabularies, when the request asks for Swedish labels (`labels=sv`; the list's
    /// parameters check the value).
    swedish: Option<Vocabularies>,
}

impl actix_web::FromRequest for Exporter {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = crate::auth::Caller::from_request(req, payload);
        let open = req
            .app_data::<web::Data<crate::http::ratelimit::OpenRequests>>()
            .map(|o| o.clone().into_inner());
        let asked = form_urlencoded::parse(req.query_string().as_bytes())
            .any(|(k, v)| k == "labels" && v == "sv");
        let vocabularies = req
            .app_data::<web::Data<Vocabularies>>()
            .map(|v| *v.get_ref());
        Box::pin(async move {
            let caller = caller.await?;
            let open = open.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("no open-request budgets configured"))
            })?;
            let swedish = match (asked, vocabularies) {
                (false, _) => None,
                (true, Some(v)) => Some(v),
                (true, None) => {
                    return Err(
                        ApiError::internal(anyhow::anyhow!("no vocabularies configured")).into(),
                    );
                }
            };
            Ok(Exporter {
                client: caller.client_id,
                open,
                swedish,
            })
        })
    }
}

impl Exporter {
    /// Answers an export. In order: a place among the client's open exports (429 beyond its
    /// limit), a place in the bulk share of the pool, a connection; then `produce` writes every
    /// row to a temporary file and the connection and the place go back; then the file streams
    /// to the client at its own pace, within the export deadline. The file is unlinked as soon
    /// as it is created, so nothing is left behind whatever happens.
    pub async fn respond<T, F, Fut>(
        self,
        format: Format,
        name: &str,
        db: &crate::store::db::Db,
        produce: F,
    ) -> Result<HttpResponse, ApiError>
    where
        T: Serialize + ToSchema + 'static,
        F: FnOnce(Sink<T>, crate::store::db::PgConn) -> Fut,
        Fut: Future<Output = Result<Sink<T>, ApiError>>,
    {
        let open = self
            .open
            .open(crate::http::ratelimit::Kind::Export, self.client)?;
        let deadline = std::time::Instant::now() + self.open.limits().export_deadline;
        let (writer, reader) = crate::http::spool::anonymous_file()?;
        let labels = match (format, self.swedish) {
            (Format::Csv, Some(vocabularies)) => Some(column_labels::<T>(&vocabularies)),
            _ => None,
        };
        let mut sink = Sink {
            file: std::io::BufWriter::with_capacity(64 * 1024, writer),
            format,
            columns: columns::<T>(),
            labels,
            failed: None,
            _rows: PhantomData,
        };
        if format == Format::Csv {
            use std::io::Write;
            let mut head = "\u{feff}".as_bytes().to_vec();
            let headers = sink.columns.iter().map(|c| match sink.labels {
                Some(_) => labels::header(c).to_owned(),
                None => c.clone(),
            });
            head.extend(csv_record(headers));
            sink.file.write_all(&head).map_err(ApiError::internal)?;
        }
        let sink = {
            let _share = self.open.bulk().await?;
            let conn = db.conn().await?;
            produce(sink, conn).await?
        };
        if let Some(e) = sink.failed {
            return Err(ApiError::internal(e));
        }
        sink.file
            .into_inner()
            .map_err(|e| ApiError::internal(e.into_error()))?
            .sync_data()
            .ok();
        let (content_type, extension) = match format {
            Format::Csv => ("text/csv; charset=utf-8", "csv"),
            _ => ("application/x-ndjson", "ndjson"),
        };
        let stream = crate::http::spool::stream_file(reader, deadline, open);
        Ok(HttpResponse::Ok()
            .content_type(content_type)
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{extension}\""),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .streaming(stream))
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

/// How a column's values are written with Swedish labels.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// As they are (text, numbers, ids).
    Plain,
    /// An enum's values: their labels.
    Values(&'static Vocabulary),
    /// A list of `kind:text` objects: the kinds' labels.
    Kinds(&'static Vocabulary),
}

/// The labels of `T`'s columns, found from its schema: a property that refers to an enum with
/// a vocabulary, or a list of objects whose kind has one.
fn column_labels<T: ToSchema>(vocabularies: &Vocabularies) -> Vec<Labels> {
    use serde_json::Value;
    fn first_ref(v: &Value) -> Option<&str> {
        match v {
            Value::Object(m) => m
                .get("$ref")
                .and_then(Value::as_str)
                .or_else(|| m.values().find_map(first_ref)),
            Value::Array(items) => items.iter().find_map(first_ref),
            _ => None,
        }
    }
    fn items(v: &Value) -> Option<&Value> {
        match v {
            Value::Object(m) => m.get("items").or_else(|| m.values().find_map(items)),
            Value::Array(list) => list.iter().find_map(items),
            _ => None,
        }
    }
    let name = |r: &str| r.rsplit('/').next().unwrap_or_default().to_owned();
    let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = T::schema()
    else {
        return Vec::new();
    };
    object
        .properties
        .values()
        .map(|property| {
            let json = serde_json::to_value(property).unwrap_or_default();
            if let Some(r) = items(&json).and_then(first_ref) {
                return vocabularies
                    .kind_of(&name(r))
                    .map_or(Labels::Plain, Labels::Kinds);
            }
            first_ref(&json)
                .and_then(|r| vocabularies.get(&name(r)))
                .map_or(Labels::Plain, Labels::Values)
        })
        .collect()
}

fn csv_line<T: Serialize>(columns: &[String], labels: Option<&[Labels]>, row: &T) -> Vec<u8> {
    let value = serde_json::to_value(row).unwrap_or_default();
    let cells = columns.iter().enumerate().map(|(i, c)| {
        let labels = labels
            .and_then(|l| l.get(i).copied())
            .unwrap_or(Labels::Plain);
        cell(value.get(c), labels)
    });
    csv_record(cells)
}

/// One CSV cell: lists are `|`-separated; suggestion-like objects are `kind:text`.
fn cell(value: Option<&serde_json::Value>, labels: Labels) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => match labels {
            Labels::Values(vocabulary) => vocabulary.label(s).to_owned(),
            _ => s.clone(),
        },
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => match (o.get("kind"), o.get("text")) {
                    (Some(Value::String(k)), Some(Value::String(t))) => match labels {
                        Labels::Kinds(vocabulary) => format!("{}:{t}", vocabulary.label(k)),
                        _ => format!("{k}:{t}"),
                    },
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

/// One CSV record (`;`, CRLF), every cell neutralised against formula injection.
pub fn csv_record(cells: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let cells: Vec<String> = cells.into_iter().map(neutralise).collect();
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

/// The characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` is a formula-starting cell, possibly already behind apostrophes.
fn formula_like(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(FORMULA_START)
}

fn plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.')
}

/// Prefixes a cell that a spreadsheet would run as a formula with an apostrophe, as OWASP
/// recommends, so Excel shows it as text. Plain numbers (`-5260000`) are left as numbers: as a
/// "formula" they only compute themselves. Cells already starting with apostrophes before such a
/// character get one more, so that [`unneutralise`] gives back exactly what was exported.
pub fn neutralise(cell: String) -> String {
    if formula_like(&cell) && (cell.starts_with('\'') || !plain_number(&cell)) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The inverse of [`neutralise`], for imports: an export loads back unchanged.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_flatten_lists_the_way_imports_read_them() {
        let v = serde_json::json!({"ids": ["2281", "2262"], "s": [{"kind": "advocacy", "text": "Nära vård"}], "n": 5, "x": null});
        assert_eq!(cell(v.get("ids"), Labels::Plain), "2281|2262");
        assert_eq!(cell(v.get("s"), Labels::Plain), "advocacy:Nära vård");
        assert_eq!(cell(v.get("n"), Labels::Plain), "5");
        assert_eq!(cell(v.get("x"), Labels::Plain), "");
        const KINDS: Vocabulary = Vocabulary {
            name: "K",
            values: &[("advocacy", &["Påverkansområde"])],
        };
        assert_eq!(
            cell(v.get("s"), Labels::Kinds(&KINDS)),
            "Påverkansområde:Nära vård"
        );
        let status = serde_json::json!("advocacy");
        assert_eq!(
            cell(Some(&status), Labels::Values(&KINDS)),
            "Påverkansområde"
        );
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
    fn formula_cells_are_neutralised_and_read_back_unchanged() {
        for (exported, neutral) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+46 70", "'+46 70"),
            ("-rubrik", "'-rubrik"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tflik", "'\tflik"),
            ("\rrad", "'\rrad"),
            ("'=redan", "''=redan"),
            ("-5260000", "-5260000"),
            ("-12.5", "-12.5"),
            ("Ånge", "Ånge"),
            ("'citat", "'citat"),
            ("", ""),
        ] {
            assert_eq!(neutralise(exported.to_owned()), neutral, "{exported:?}");
            assert_eq!(unneutralise(neutral), exported, "{neutral:?}");
        }
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
