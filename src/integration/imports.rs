//! Bulk loads: `POST /v1/imports/{collection}` with CSV (`,` or `;`, header row, optional BOM,
//! quoted fields) or NDJSON. The body is parsed as it arrives, on a blocking thread, and staged
//! in batches into a session-local table; nothing is written to the collection unless every
//! line is valid, and then all of it is written in one short set-based transaction (rows with
//! an external reference upsert by it; unchanged rows are left alone: no version, no audit
//! entry, no feed entry). Memory stays flat whatever the file's size.

use std::io::Read;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::config::ImportLimits;
use crate::error::responses::{AuthErrors, CommonErrors};
use crate::error::{ApiError, Violation};
use crate::http::Query;
use crate::integration::work::{Change, Work, Writer};
use crate::rules::labels::{self, Vocabularies, Vocabulary};

use crate::error::ERROR_CAP;
const BATCH: usize = 2000;

/// The collections that can be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Collection {
    Networks,
    Members,
    Assignments,
    ProgressReports,
    Feedback,
    Events,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// `true` or `false`, as Swedish Excel writes them too (`SANT`, `FALSKT`), or `ja`/`nej`.
    Bool,
    /// A record's id (a UUID), read as text: the resource's rules check it.
    Id,
    Int,
    List,
    Suggestions,
    /// One of an enum's values, or its Swedish label (the vocabulary's name).
    Enum(&'static str),
}

/// One column of a collection's files.
#[derive(Debug, Clone, Copy)]
struct Column {
    /// The field's name (the header; its Swedish header is [`labels::header`]).
    name: &'static str,
    kind: Kind,
    /// What it means, for the template's documentation.
    about: &'static str,
    /// The template's example value.
    example: &'static str,
}

const fn col(name: &'static str, kind: Kind, about: &'static str, example: &'static str) -> Column {
    Column {
        name,
        kind,
        about,
        example,
    }
}

/// The vocabulary of the kinds in a `suggestions` cell.
const SUGGESTION_KIND: &str = "SuggestionKind";

impl Collection {
    pub const ALL: [Collection; 6] = [
        Self::Networks,
        Self::Members,
        Self::Assignments,
        Self::ProgressReports,
        Self::Feedback,
        Self::Events,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "networks" => Self::Networks,
            "members" => Self::Members,
            "assignments" => Self::Assignments,
            "progress-reports" => Self::ProgressReports,
            "feedback" => Self::Feedback,
            "events" => Self::Events,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Networks => "networks",
            Self::Members => "members",
            Self::Assignments => "assignments",
            Self::ProgressReports => "progress-reports",
            Self::Feedback => "feedback",
            Self::Events => "events",
        }
    }

    /// The columns (the resource's field names): how a CSV cell is read, what it means, and
    /// the template's example (the demo data's ids, so that a template loads into the demo).
    fn columns(self) -> &'static [Column] {
        use Kind::*;
        const NETWORK: &str = "d1000000-0000-4000-8000-000000000001";
        const AREA: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0001";
        const ASSIGNMENT: &str = "d3000000-0000-4000-8000-000000000001";
        const SYSTEM: Column = col(
            "externalSystem",
            Text,
            "The system the record comes from (with externalId: rows upsert by the two)",
            "",
        );
        const EXTERNAL_ID: Column = col(
            "externalId",
            Text,
            "The record's id in that system; format the column as text in Excel, or leading zeros are lost",
            "",
        );
        match self {
            Self::Networks => {
                const COLUMNS: &[Column] = &[
                    col(
                        "name",
                        Text,
                        "The network's name (at most 200 characters)",
                        "Skolchefsnätverket",
                    ),
                    col(
                        "kind",
                        Enum("NetworkKind"),
                        "What kind of network",
                        "management",
                    ),
                    col("areaId", Id, "The collaboration area's id (a UUID)", AREA),
                    col(
                        "description",
                        Text,
                        "What the network does",
                        "Länets skolchefer samordnar skolfrågor.",
                    ),
                    col(
                        "municipalityIds",
                        List,
                        "The member municipalities' kommunkoder, `|`-separated",
                        "2281|2262",
                    ),
                    col("coordinator", Text, "Who coordinates it", "Karin Berglund"),
                    col(
                        "status",
                        Enum("NetworkStatus"),
                        "Whether it meets (default active)",
                        "active",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
            Self::Members => {
                const COLUMNS: &[Column] = &[
                    col("networkId", Id, "The network's id (a UUID)", NETWORK),
                    col(
                        "name",
                        Text,
                        "The member's name (personal data)",
                        "Anna Sundberg",
                    ),
                    col(
                        "email",
                        Text,
                        "E-mail address",
                        "anna.sundberg@sundsvall.se",
                    ),
                    col("phone", Text, "Telephone number", "060-19 10 00"),
                    col("title", Text, "Job title", "Skolchef"),
                    col(
                        "municipalityId",
                        Text,
                        "The kommunkod of the municipality the member represents",
                        "2281",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
            Self::Assignments => {
                const COLUMNS: &[Column] = &[
                    col(
                        "title",
                        Text,
                        "The assignment's title (at most 200 characters)",
                        "Digitalt stöd i hemtjänsten",
                    ),
                    col(
                        "description",
                        Text,
                        "What it is to achieve",
                        "Gemensam införandeplan för digitala tillsynsbesök.",
                    ),
                    col(
                        "municipalityIds",
                        List,
                        "The commissioning municipalities' kommunkoder, `|`-separated",
                        "2281|2262|2284",
                    ),
                    col("areaId", Id, "The collaboration area's id (a UUID)", AREA),
                    col(
                        "challenge",
                        Enum("Challenge"),
                        "The plan's challenge it serves",
                        "core",
                    ),
                    col(
                        "fundingType",
                        Enum("FundingType"),
                        "How it is paid for",
                        "internal",
                    ),
                    col("funder", Text, "The outside funder, if any", ""),
                    col(
                        "budgetSek",
                        Int,
                        "Budget in whole kronor (spaces allowed, no decimals)",
                        "450000",
                    ),
                    col(
                        "partners",
                        List,
                        "Partners, `|`-separated",
                        "Region Västernorrland",
                    ),
                    col("startDate", Text, "Start date, YYYY-MM-DD", "2022-02-01"),
                    col("endDate", Text, "End date, YYYY-MM-DD", "2023-06-30"),
                    col("responsible", Text, "Who is responsible", "Maria Holm"),
                    col(
                        "status",
                        Enum("AssignmentStatus"),
                        "Where it is in its lifecycle (default proposed)",
                        "proposed",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
            Self::ProgressReports => {
                const COLUMNS: &[Column] = &[
                    col(
                        "assignmentId",
                        Id,
                        "The assignment's id (a UUID)",
                        ASSIGNMENT,
                    ),
                    col("year", Int, "The report's year", "2023"),
                    col(
                        "tertial",
                        Int,
                        "The tertial: 1 (January–April), 2 (May–August) or 3 (September–December)",
                        "1",
                    ),
                    col(
                        "summary",
                        Text,
                        "What was done in the tertial",
                        "Första utbildningsomgången genomförd.",
                    ),
                    col("spentSek", Int, "Spent so far, whole kronor", "820000"),
                    col(
                        "forecastSek",
                        Int,
                        "Forecast for the whole assignment, whole kronor",
                        "2500000",
                    ),
                    col(
                        "deviation",
                        Enum("Deviation"),
                        "How far it deviates from its plan",
                        "minor",
                    ),
                    col(
                        "deviationNote",
                        Text,
                        "Why (required with a deviation)",
                        "Utbildningen försenad en månad.",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
            Self::Feedback => {
                const COLUMNS: &[Column] = &[
                    col("year", Int, "The plan's year", "2022"),
                    col(
                        "goal",
                        Enum("Challenge"),
                        "The plan's challenge the rating is about",
                        "focus",
                    ),
                    col(
                        "networkId",
                        Id,
                        "The network giving the feedback (a UUID)",
                        NETWORK,
                    ),
                    col(
                        "municipalityId",
                        Text,
                        "The kommunkod, when the feedback is one municipality's",
                        "2281",
                    ),
                    col(
                        "rating",
                        Int,
                        "How well the goal was met, 1 (not at all) to 5 (fully)",
                        "4",
                    ),
                    col(
                        "comment",
                        Text,
                        "The network's comment",
                        "Bra stöd i kompetensförsörjningen.",
                    ),
                    col(
                        "suggestions",
                        Suggestions,
                        "Suggested areas as kind:text, `|`-separated",
                        "development:Gemensam strategi för kompetensförsörjning",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
            Self::Events => {
                const COLUMNS: &[Column] = &[
                    col(
                        "title",
                        Text,
                        "The event's title (at most 300 characters)",
                        "Skolchefsnätverket, möte 3",
                    ),
                    col("description", Text, "What it is about", ""),
                    col(
                        "kind",
                        Enum("EventKind"),
                        "Conference, training, network or presidium meeting, webinar",
                        "network_meeting",
                    ),
                    col(
                        "allDay",
                        Bool,
                        "true for whole days (then startDate and endDate, no times); default false",
                        "false",
                    ),
                    col(
                        "startsAt",
                        Text,
                        "When it starts, with its offset: 2022-03-24T09:00:00+01:00 (not for all-day events)",
                        "2022-03-24T09:00:00+01:00",
                    ),
                    col(
                        "endsAt",
                        Text,
                        "When it ends, with its offset (not for all-day events)",
                        "2022-03-24T12:00:00+01:00",
                    ),
                    col(
                        "startDate",
                        Text,
                        "An all-day event's first day, YYYY-MM-DD (for a timed event: its day in Sweden, or empty)",
                        "",
                    ),
                    col(
                        "endDate",
                        Text,
                        "An all-day event's last day, YYYY-MM-DD (default startDate)",
                        "",
                    ),
                    col(
                        "location",
                        Text,
                        "Where it is held",
                        "Kommunförbundet, Sundsvall",
                    ),
                    col("onlineUrl", Text, "The link to join online", ""),
                    col("organiser", Text, "Who arranges it", "Erik Sjödin"),
                    col(
                        "networkId",
                        Id,
                        "The network's id (a UUID), if any",
                        NETWORK,
                    ),
                    col(
                        "areaId",
                        Id,
                        "The collaboration area's id (a UUID), if any",
                        "",
                    ),
                    col(
                        "municipalityIds",
                        List,
                        "The municipalities it is for, `|`-separated kommunkoder",
                        "2260|2262|2280|2281|2282|2283|2284",
                    ),
                    col(
                        "capacity",
                        Int,
                        "Places (registrations beyond them wait); empty for no limit",
                        "",
                    ),
                    col(
                        "registrationDeadline",
                        Text,
                        "Registrations are taken until then, with its offset",
                        "",
                    ),
                    col(
                        "cancelled",
                        Bool,
                        "true when cancelled; default false",
                        "false",
                    ),
                    SYSTEM,
                    EXTERNAL_ID,
                ];
                COLUMNS
            }
        }
    }

    /// The column named `name`.
    fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Columns a row must have.
    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Networks => &["name", "kind"],
            Self::Members => &["networkId", "name"],
            Self::Assignments => &["title", "municipalityIds", "areaId", "fundingType"],
            Self::ProgressReports => &[
                "assignmentId",
                "year",
                "tertial",
                "summary",
                "spentSek",
                "forecastSek",
                "deviation",
            ],
            Self::Feedback => &["year", "goal", "networkId", "rating"],
            Self::Events => &["title", "kind", "municipalityIds"],
        }
    }
}

/// One parsed line.
struct Row {
    line: u64,
    data: Map<String, Value>,
}

enum Parsed {
    Row(Row),
    Error(Violation),
    Fatal(ApiError),
}

/// Server-owned fields, as an export writes them. `id` and `version` say which record a row
/// updates and which version the file was exported at (the row's `If-Match`); the timestamps
/// are accepted and ignored, so that an export can be loaded back.
const SERVER_OWNED: [&str; 4] = ["id", "version", "createdAt", "updatedAt"];

/// Which record a row updates, and at which version it was exported.
#[derive(Debug, Default)]
struct Identity {
    id: Option<String>,
    version: Option<i64>,
}

/// Takes the server-owned fields out of a row (the resource's rules know nothing of them),
/// checking `id` (a UUID) and `version` (a whole number from 1).
fn take_server_owned(
    line: u64,
    data: &mut Map<String, Value>,
    problems: &mut Vec<Violation>,
) -> Identity {
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(Value::String(s.trim().to_owned())),
        Some(Value::Null) | None => None,
        Some(Value::String(_)) => None,
        Some(other) => Some(other),
    };
    let mut identity = Identity::default();
    let id = text(data.remove("id"));
    let named = id.is_some();
    match id {
        Some(Value::String(s)) if uuid::Uuid::parse_str(&s).is_ok() => {
            identity.id = uuid::Uuid::parse_str(&s)
                .ok()
                .map(|id| id.hyphenated().to_string())
        }
        Some(_) => problems.push(Violation::at(line, "id", "must be a UUID, as exported")),
        None => {}
    }
    if let Some(v) = text(data.remove("version")) {
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        match n.filter(|n| *n >= 1) {
            Some(n) if identity.id.is_some() => identity.version = Some(n),
            // The id is wrong already: said once.
            Some(_) if named => {}
            Some(_) => problems.push(Violation::at(
                line,
                "version",
                "is the version of the record named by id; this row has no id",
            )),
            None => problems.push(Violation::at(
                line,
                "version",
                "must be a whole number from 1, as exported",
            )),
        }
    }
    data.remove("createdAt");
    data.remove("updatedAt");
    identity
}

/// Puts a checked row's identity back, for the database's part.
fn restore(identity: Identity, data: &mut Map<String, Value>) {
    if let Some(id) = identity.id {
        data.insert("id".to_owned(), Value::String(id));
    }
    if let Some(version) = identity.version {
        data.insert("version".to_owned(), Value::from(version));
    }
}

/// Remembers where the newlines are in the bytes read so far, so that a CSV record's byte offset
/// can be turned into the line a person sees (however the file ends its lines: `\n` or `\r\n`,
/// and counting newlines inside quoted fields). Only newlines not yet passed are kept: flat.
#[derive(Default)]
struct Lines {
    pending: std::collections::VecDeque<u64>,
    passed: u64,
    /// Newlines read so far.
    seen: u64,
    /// The line of a quote still waiting for its closing quote.
    open_quote: Option<u64>,
}

impl Lines {
    /// The 1-based line of a record starting at `offset` (offsets only grow). csv ends a record
    /// at the `\r` of a `\r\n`, so a record may "start" at the `\n`: that one counts too.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|nl| *nl <= offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

struct CountingReader<R> {
    inner: R,
    offset: u64,
    lines: std::rc::Rc<std::cell::RefCell<Lines>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            match *b {
                b'\n' => {
                    lines.pending.push_back(self.offset + i as u64);
                    lines.seen += 1;
                }
                // In well-formed CSV quotes come in pairs (around a field, and doubled inside
                // one); the line of the quote that leaves one unpaired is where a quoted field
                // was opened and never closed.
                b'"' => {
                    lines.open_quote = match lines.open_quote {
                        Some(_) => None,
                        None => Some(lines.seen + 1),
                    }
                }
                _ => {}
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// The I/O error under a CSV error (the body's bytes could not be read or decoded).
fn io_error(e: &csv::Error) -> Option<&std::io::Error> {
    match e.kind() {
        csv::ErrorKind::Io(e) => Some(e),
        _ => None,
    }
}

/// Reads a CSV cell as the column wants it.
fn cell(kind: Kind, column: &str, raw: &str) -> Result<Value, String> {
    if raw.contains('\0') {
        return Err("must not contain NUL (U+0000)".to_owned());
    }
    // Exports protect formula-like cells with an apostrophe; it is not part of the value.
    let raw = crate::integration::export::unneutralise(raw);
    let text = raw.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        // An id in any form a UUID may take (braces, `urn:uuid:`) as PostgreSQL reads one.
        Kind::Id => match uuid::Uuid::parse_str(text) {
            Ok(id) => Value::String(id.hyphenated().to_string()),
            Err(_) => Value::String(raw.to_owned()),
        },
        Kind::Text | Kind::Enum(_) => Value::String(raw.to_owned()),
        Kind::Bool => match text.to_lowercase().as_str() {
            "true" | "sant" | "ja" | "1" => Value::Bool(true),
            "false" | "falskt" | "nej" | "0" => Value::Bool(false),
            _ => return Err(format!("{text:?} is not true or false (ja or nej)")),
        },
        Kind::Int => {
            let compact: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
                .collect();
            match compact.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) if compact.contains(',') || compact.contains('.') => {
                    return Err(format!(
                        "{text:?} is not a whole number: {column} takes whole numbers (SEK, years), without decimals; a Swedish decimal comma is not read as a number"
                    ));
                }
                Err(_) => return Err(format!("{text:?} is not a whole number")),
            }
        }
        Kind::List => Value::Array(
            text.split('|')
                .map(|p| Value::String(p.trim().to_owned()))
                .filter(|v| v != "")
                .collect(),
        ),
        Kind::Suggestions => {
            let mut items = Vec::new();
            for part in text.split('|').map(str::trim).filter(|p| !p.is_empty()) {
                let (kind, body) = part.split_once(':').ok_or_else(|| {
                    format!("{part:?} is not kind:text (e.g. development:Gemensam strategi)")
                })?;
                items.push(serde_json::json!({"kind": kind.trim(), "text": body.trim()}));
            }
            Value::Array(items)
        }
    })
}

/// Swedish labels to values: each enum cell of a row (and the kind of each suggestion) becomes
/// the value it names, whatever its case and accents; a text that names none is a problem on
/// its line that lists the values with their labels.
fn read_labels(
    collection: Collection,
    vocabularies: &Vocabularies,
    line: u64,
    data: &mut Map<String, Value>,
    problems: &mut Vec<Violation>,
) {
    let mut resolve = |field: String, vocabulary: &Vocabulary, value: &mut Value| {
        if let Value::String(text) = value {
            match vocabulary.resolve(text) {
                Some(known) => *text = known.to_owned(),
                None if text.trim().is_empty() => {}
                None => {
                    problems.push(Violation::at(
                        line,
                        field,
                        format!("{text:?} is none of {}", vocabulary.describe()),
                    ));
                    // A stand-in, so that the resource's rules still check the rest of the
                    // row (the row is refused already).
                    if let Some((first, _)) = vocabulary.values.first() {
                        *text = (*first).to_owned();
                    }
                }
            }
        }
    };
    for Column {
        name: column, kind, ..
    } in collection.columns()
    {
        match kind {
            Kind::Enum(name) => {
                if let (Some(vocabulary), Some(value)) =
                    (vocabularies.get(name), data.get_mut(*column))
                {
                    resolve(column.to_string(), vocabulary, value);
                }
            }
            Kind::Suggestions => {
                if let (Some(vocabulary), Some(Value::Array(items))) =
                    (vocabularies.get(SUGGESTION_KIND), data.get_mut(*column))
                {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Some(kind) = item.get_mut("kind") {
                            resolve(format!("{column}[{i}].kind"), vocabulary, kind);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The rules of a file's shape: no NUL, only the collection's columns, the required ones present
/// (unless `required` is false: a row whose absent columns are still to be filled from its
/// record). The values themselves are checked by the resource's own rules ([`RowCheck`]).
fn check_shape(
    collection: Collection,
    line: u64,
    data: &Map<String, Value>,
    required: bool,
    out: &mut Vec<Violation>,
) {
    let mut push = |field: &str, message: String| out.push(Violation::at(line, field, message));
    for (key, value) in data {
        if let Some(field) = crate::http::find_nul(value, key) {
            push(&field, "must not contain NUL (U+0000)".to_owned());
        }
    }
    for key in data.keys() {
        if collection.column(key).is_none() {
            let allowed: Vec<&str> = collection.columns().iter().map(|c| c.name).collect();
            push(
                key,
                format!("unknown field; allowed: {}", allowed.join(", ")),
            );
        }
    }
    for key in collection.required().iter().filter(|_| required) {
        if data.get(*key).is_none_or(Value::is_null) {
            push(key, "is required".to_owned());
        }
    }
}

/// How a collection's rows are checked: by the resource's own rules, exactly as its JSON
/// endpoint checks a body (see `crate::kernel::Importable`). The app registers one per
/// collection.
pub type RowCheck = fn(Map<String, Value>) -> Vec<Violation>;

/// The row checks of every collection, by collection name, and the vocabularies that read
/// Swedish labels.
#[derive(Clone)]
pub struct RowChecks {
    pub checks: Vec<(&'static str, RowCheck)>,
    pub vocabularies: Vocabularies,
}

impl RowChecks {
    fn of(&self, collection: Collection) -> Option<RowCheck> {
        self.checks
            .iter()
            .find(|(name, _)| *name == collection.name())
            .map(|(_, check)| *check)
    }
}

/// Every problem of one row: its shape, then (when the shape is right) its values by the
/// resource's rules. Empty cells and nulls count as absent.
fn check_row(
    collection: Collection,
    check: RowCheck,
    line: u64,
    data: &mut Map<String, Value>,
    out: &mut Vec<Violation>,
) {
    data.retain(|_, v| !v.is_null());
    let before = out.len();
    check_shape(collection, line, data, true, out);
    if out.len() == before {
        out.extend(check(data.clone()).into_iter().map(|v| Violation {
            line: Some(line),
            ..v
        }));
    }
}

/// The key under which a staged row lists the columns it leaves out, to be filled from its
/// record ([`fill_kept`]). Not a column name: columns are camelCase words.
const KEPT: &str = "$kept";

/// The columns a row that names a record (`id`) leaves out: they keep the record's values.
/// A CSV file without a column leaves it out of every row, an NDJSON line without a key out of
/// that row; an empty cell or `null` is a value (it clears an optional field). External
/// references are not updated by id and are never filled.
fn kept_columns(collection: Collection, data: &Map<String, Value>) -> Vec<Value> {
    collection
        .columns()
        .iter()
        .map(|c| c.name)
        .filter(|name| !matches!(*name, "externalSystem" | "externalId"))
        .filter(|name| !data.contains_key(*name))
        .map(|name| Value::String(name.to_owned()))
        .collect()
}

/// The resource's rules on a row whatever else is wrong with it, so that a file's problems come
/// all at once; a field whose cell could not be read is not reported again as missing.
///
/// A row that names a record and leaves columns out is checked for its shape only: its values
/// are checked whole once the database has filled in the rest ([`fill_kept`]). It is marked
/// with the columns to fill ([`KEPT`]).
fn check_rules(
    collection: Collection,
    check: RowCheck,
    line: u64,
    identity: &Identity,
    data: &mut Map<String, Value>,
    problems: &mut Vec<Violation>,
) {
    let kept = identity
        .id
        .as_ref()
        .map(|_| kept_columns(collection, data))
        .unwrap_or_default();
    if !kept.is_empty() {
        data.retain(|_, v| !v.is_null());
        check_shape(collection, line, data, false, problems);
        data.insert(KEPT.to_owned(), Value::Array(kept));
        return;
    }
    let mut found = Vec::new();
    check_row(collection, check, line, data, &mut found);
    let reported: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
    problems.extend(found.into_iter().filter(|p| !reported.contains(&p.field)));
}

/// Parses the body on a blocking thread, sending rows and problems back.
fn parse(
    collection: Collection,
    check: RowCheck,
    vocabularies: Vocabularies,
    csv: bool,
    max_rows: u64,
    reader: impl Read,
    tx: mpsc::Sender<Parsed>,
) {
    let send = |p: Parsed| tx.blocking_send(p).is_ok();
    // A file's bytes that are not text this service reads: one problem, on its line, that says
    // how to save the file from Excel.
    let unreadable = |e: &std::io::Error| {
        let problem = match crate::integration::encoding::encoding_error(e) {
            Some(found) => Violation::at(found.line, "body", found.message.clone()),
            None => Violation::at(1, "body", format!("the body could not be read: {e}")),
        };
        send(Parsed::Error(problem));
    };
    let lines = std::rc::Rc::new(std::cell::RefCell::new(Lines::default()));
    // Excel's encodings (UTF-8 with or without BOM, Windows-1252, UTF-16 with BOM) arrive as
    // UTF-8 without a BOM, so line numbers count the lines a person sees.
    let mut reader = std::io::BufReader::with_capacity(
        64 * 1024,
        CountingReader {
            inner: crate::integration::encoding::Decoded::new(reader),
            offset: 0,
            lines: lines.clone(),
        },
    );
    let mut rows: u64 = 0;
    let mut count_row = || {
        rows += 1;
        rows <= max_rows
    };
    if csv {
        use std::io::BufRead;
        // The separator is the one the header line uses most: `;` (Swedish Excel), `,`, or
        // TAB ("Unicode-text").
        let delimiter = match reader.fill_buf() {
            Ok(buf) => {
                let first = buf.split(|b| *b == b'\n').next().unwrap_or_default();
                let count = |c: u8| first.iter().filter(|b| **b == c).count();
                let (semis, commas, tabs) = (count(b';'), count(b','), count(b'\t'));
                if tabs > semis.max(commas) {
                    b'\t'
                } else if semis > commas {
                    b';'
                } else {
                    b','
                }
            }
            Err(e) => {
                unreadable(&e);
                return;
            }
        };
        let line_of = |pos: Option<&csv::Position>| {
            pos.map(|p| lines.borrow_mut().line_at(p.byte()))
                .unwrap_or(0)
        };
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        // As written in the file: problems name the columns the person sees.
        let written: Vec<String> = match csv.headers() {
            Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
            Err(e) if io_error(&e).is_some() => {
                if let Some(e) = io_error(&e) {
                    unreadable(e);
                }
                return;
            }
            Err(e) => {
                send(Parsed::Error(Violation::at(
                    1,
                    "header",
                    format!("the header row cannot be read: {e}"),
                )));
                return;
            }
        };
        let columns = collection.columns();
        // The fields the columns hold: a column is named by its field or by its Swedish
        // header (`Betyg` for `rating`), as a `labels=sv` export writes it.
        let headers: Vec<String> = written
            .iter()
            .map(|name| {
                let known = |f: &str| collection.column(f).is_some() || SERVER_OWNED.contains(&f);
                if known(name) {
                    return name.clone();
                }
                labels::field_of_header(name)
                    .filter(|f| known(f))
                    .map_or_else(|| name.clone(), str::to_owned)
            })
            .collect();
        let as_written = |mut v: Violation| {
            let base = v.field.split(['[', '.']).next().unwrap_or_default();
            if let Some(i) = headers.iter().position(|h| h == base) {
                if written[i] != headers[i] {
                    v.field = format!("{}{}", written[i], &v.field[base.len()..]);
                }
            }
            v
        };
        for (i, name) in headers.iter().enumerate() {
            let problem = if name.is_empty() {
                Some(Violation::at(
                    1,
                    "header",
                    format!("column {} has no name", i + 1),
                ))
            } else if headers[..i].contains(name) {
                Some(Violation::at(
                    1,
                    written[i].as_str(),
                    "appears more than once in the header (by its field's name or its Swedish header)",
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                send(Parsed::Error(problem));
                return;
            }
        }
        for name in &headers {
            if collection.column(name).is_none() && !SERVER_OWNED.contains(&name.as_str()) {
                let allowed: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{} ({})", c.name, labels::header(c.name)))
                    .collect();
                if !send(Parsed::Error(Violation::at(
                    1,
                    name.as_str(),
                    format!(
                        "unknown column; columns are {} (by name or Swedish header)",
                        allowed.join(", ")
                    ),
                ))) {
                    return;
                }
            }
        }
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if io_error(&e).is_some() => {
                    if let Some(e) = io_error(&e) {
                        unreadable(e);
                    }
                    return;
                }
                Err(e) => {
                    let line = line_of(e.position());
                    send(Parsed::Error(Violation::at(
                        line,
                        "body",
                        format!("not valid CSV: {e}"),
                    )));
                    return;
                }
            }
            let line = line_of(record.position());
            if !count_row() {
                send(Parsed::Fatal(ApiError::PayloadTooLarge(0)));
                return;
            }
            if record.len() != headers.len() {
                if !send(Parsed::Error(Violation::at(
                    line,
                    "body",
                    format!("has {} fields, the header {}", record.len(), headers.len()),
                ))) {
                    return;
                }
                continue;
            }
            let mut data = Map::new();
            let mut problems = Vec::new();
            for (name, raw) in headers.iter().zip(record.iter()) {
                if SERVER_OWNED.contains(&name.as_str()) {
                    data.insert(name.clone(), Value::String(raw.to_owned()));
                    continue;
                }
                let Some(column) = collection.column(name) else {
                    continue;
                };
                match cell(column.kind, name, raw) {
                    Ok(v) => {
                        data.insert(name.clone(), v);
                    }
                    Err(message) => problems.push(Violation::at(line, name.as_str(), message)),
                }
            }
            read_labels(collection, &vocabularies, line, &mut data, &mut problems);
            let identity = take_server_owned(line, &mut data, &mut problems);
            check_rules(collection, check, line, &identity, &mut data, &mut problems);
            restore(identity, &mut data);
            let ok = if problems.is_empty() {
                send(Parsed::Row(Row { line, data }))
            } else {
                problems
                    .into_iter()
                    .all(|p| send(Parsed::Error(as_written(p))))
            };
            if !ok {
                return;
            }
        }
        let open_quote = lines.borrow().open_quote;
        if let Some(line) = open_quote {
            send(Parsed::Error(Violation::at(
                line,
                "body",
                "a quote (\") opened on this line is never closed: the file ends inside a quoted field",
            )));
        }
    } else {
        use std::io::BufRead;
        let mut line_no = 0u64;
        let mut buf = String::new();
        loop {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if crate::integration::encoding::encoding_error(&e).is_some() => {
                    unreadable(&e);
                    return;
                }
                Err(e) => {
                    send(Parsed::Error(Violation::at(
                        line_no + 1,
                        "body",
                        format!("not UTF-8 text: {e}"),
                    )));
                    return;
                }
            }
            line_no += 1;
            if buf.trim().is_empty() {
                continue;
            }
            if !count_row() {
                send(Parsed::Fatal(ApiError::PayloadTooLarge(0)));
                return;
            }
            let parsed = match serde_json::from_str::<Value>(&buf) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("each line must be a JSON object".to_owned()),
                Err(e) => Err(format!("not valid JSON: {e}")),
            };
            let ok = match parsed {
                Ok(mut data) => {
                    let mut problems = Vec::new();
                    read_labels(collection, &vocabularies, line_no, &mut data, &mut problems);
                    let identity = take_server_owned(line_no, &mut data, &mut problems);
                    check_rules(
                        collection,
                        check,
                        line_no,
                        &identity,
                        &mut data,
                        &mut problems,
                    );
                    restore(identity, &mut data);
                    if problems.is_empty() {
                        send(Parsed::Row(Row {
                            line: line_no,
                            data,
                        }))
                    } else {
                        problems.into_iter().all(|p| send(Parsed::Error(p)))
                    }
                }
                Err(message) => send(Parsed::Error(Violation::at(line_no, "body", message))),
            };
            if !ok {
                return;
            }
        }
    }
}

/// What a load did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"collection": "feedback", "dryRun": true, "rows": 22, "created": 1, "updated": 1, "unchanged": 20,
    "lines": {"created": [[23, 23]], "updated": [[5, 5]], "unchanged": [[2, 4], [6, 22]]}}))]
pub struct ImportResult {
    pub collection: String,
    pub dry_run: bool,
    /// Rows in the file.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows whose record already had exactly these values: not written at all.
    pub unchanged: u64,
    /// In a dry run: what each line would do, as runs of lines `[first, last]` (the header is
    /// line 1). A record changed since the export, with other values than the row's, is not
    /// here but a `conflict` problem on its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<LineOutcomes>,
}

/// The lines of a file by what loading them does, as runs `[first, last]`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct LineOutcomes {
    pub created: Vec<[u64; 2]>,
    pub updated: Vec<[u64; 2]>,
    pub unchanged: Vec<[u64; 2]>,
}

impl LineOutcomes {
    /// From every staged line (ascending) and the lines of existing records (whether the row
    /// changes them).
    fn of(lines: &[i64], existing: &[(i64, bool)]) -> Self {
        let existing: std::collections::HashMap<i64, bool> = existing.iter().copied().collect();
        let mut out = LineOutcomes::default();
        for line in lines {
            let runs = match existing.get(line) {
                None => &mut out.created,
                Some(true) => &mut out.updated,
                Some(false) => &mut out.unchanged,
            };
            let line = *line as u64;
            match runs.last_mut() {
                Some(run) if run[1] + 1 == line => run[1] = line,
                _ => runs.push([line, line]),
            }
        }
        out
    }
}

/// Parameters of a load.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Validate only and report what would happen; write nothing.
    #[param(default = false, example = true)]
    pub dry_run: Option<bool>,
}

/// The per-collection SQL: a `src` CTE typing the staged rows, the reference checks, and the
/// set-based upsert (returning `inserted` per written row).
struct Statements {
    src: &'static str,
    checks: &'static str,
    /// Existing rows the rows would change, as `(line, owners text[])`, for the binding check
    /// and the dry-run counts (`changed` says whether the values differ).
    existing: &'static str,
    apply: &'static str,
    /// The table, and the columns a row with an `id` updates (the same names in `src`).
    table: &'static str,
    updated: &'static [&'static str],
    /// The owners of a record `t` of the table, for the binding check.
    owners: &'static str,
    /// Which columns a row with an `id` leaves out are not filled from the record: SQL over
    /// the field name `k` and the record `rec.j` (as JSON). Fields derived from others (an
    /// event's days from its times, or its times from its days) would contradict a row that
    /// changes what they are derived from.
    unfilled: &'static str,
}

fn statements(c: Collection) -> Statements {
    match c {
        Collection::Networks => Statements {
            src: "SELECT line, d->>'name' AS name, d->>'kind' AS kind, (d->>'areaId')::uuid AS area_id, \
                  coalesce(d->>'description', '') AS description, \
                  ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'municipalityIds', '[]'))) AS municipality_ids, \
                  d->>'coordinator' AS coordinator, coalesce(d->>'status', 'active') AS status, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'areaId' AS field, 'no area has this id' AS message FROM src \
                     WHERE area_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM areas WHERE id = src.area_id) \
                     UNION ALL SELECT line, 'municipalityIds', 'no member municipality has the kommunkod ' || m \
                     FROM src, unnest(municipality_ids) m WHERE NOT EXISTS (SELECT 1 FROM municipalities WHERE id = m)",
            existing: "SELECT s.line, t.municipality_ids AS owners, \
                       (t.name, t.kind, t.area_id, t.description, t.municipality_ids, t.coordinator, t.status) \
                       IS DISTINCT FROM (s.name, s.kind, s.area_id, s.description, s.municipality_ids, s.coordinator, s.status) AS changed \
                       FROM src s JOIN networks t ON t.external_system = s.external_system AND t.external_id = s.external_id",
            apply: "INSERT INTO networks (id, name, kind, area_id, description, municipality_ids, coordinator, status, external_system, external_id) \
                    SELECT gen_random_uuid(), name, kind, area_id, description, municipality_ids, coordinator, status, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
                    area_id = excluded.area_id, description = excluded.description, municipality_ids = excluded.municipality_ids, \
                    coordinator = excluded.coordinator, status = excluded.status \
                    WHERE (networks.name, networks.kind, networks.area_id, networks.description, networks.municipality_ids, networks.coordinator, networks.status) \
                    IS DISTINCT FROM (excluded.name, excluded.kind, excluded.area_id, excluded.description, excluded.municipality_ids, excluded.coordinator, excluded.status) \
                    RETURNING (xmax = 0) AS inserted",
            table: "networks",
            updated: &[
                "name",
                "kind",
                "area_id",
                "description",
                "municipality_ids",
                "coordinator",
                "status",
            ],
            owners: "t.municipality_ids",
            unfilled: "false",
        },
        Collection::Members => Statements {
            src: "SELECT line, (d->>'networkId')::uuid AS network_id, d->>'name' AS name, d->>'email' AS email, \
                  d->>'phone' AS phone, d->>'title' AS title, d->>'municipalityId' AS municipality_id, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'networkId' AS field, 'no network has this id' AS message FROM src \
                     WHERE NOT EXISTS (SELECT 1 FROM networks WHERE id = src.network_id) \
                     UNION ALL SELECT line, 'municipalityId', 'no member municipality has this kommunkod' FROM src \
                     WHERE municipality_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM municipalities WHERE id = src.municipality_id)",
            existing: "SELECT s.line, ARRAY_REMOVE(ARRAY[t.municipality_id], NULL) AS owners, \
                       (t.network_id, t.name, t.email, t.phone, t.title, t.municipality_id) \
                       IS DISTINCT FROM (s.network_id, s.name, s.email, s.phone, s.title, s.municipality_id) AS changed \
                       FROM src s JOIN network_members t ON t.external_system = s.external_system AND t.external_id = s.external_id",
            apply: "INSERT INTO network_members (id, network_id, name, email, phone, title, municipality_id, external_system, external_id) \
                    SELECT gen_random_uuid(), network_id, name, email, phone, title, municipality_id, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET network_id = excluded.network_id, name = excluded.name, \
                    email = excluded.email, phone = excluded.phone, title = excluded.title, municipality_id = excluded.municipality_id \
                    WHERE (network_members.network_id, network_members.name, network_members.email, network_members.phone, network_members.title, network_members.municipality_id) \
                    IS DISTINCT FROM (excluded.network_id, excluded.name, excluded.email, excluded.phone, excluded.title, excluded.municipality_id) \
                    RETURNING (xmax = 0) AS inserted",
            table: "network_members",
            updated: &[
                "network_id",
                "name",
                "email",
                "phone",
                "title",
                "municipality_id",
            ],
            owners: "ARRAY_REMOVE(ARRAY[t.municipality_id], NULL)",
            unfilled: "false",
        },
        Collection::Assignments => Statements {
            src: "SELECT line, d->>'title' AS title, coalesce(d->>'description', '') AS description, \
                  ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'municipalityIds', '[]'))) AS municipality_ids, \
                  (d->>'areaId')::uuid AS area_id, d->>'challenge' AS challenge, d->>'fundingType' AS funding_type, \
                  d->>'funder' AS funder, coalesce((d->>'budgetSek')::bigint, 0) AS budget_sek, \
                  ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'partners', '[]'))) AS partners, \
                  (d->>'startDate')::date AS start_date, (d->>'endDate')::date AS end_date, d->>'responsible' AS responsible, \
                  coalesce(d->>'status', 'proposed') AS status, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'areaId' AS field, 'no area has this id' AS message FROM src \
                     WHERE NOT EXISTS (SELECT 1 FROM areas WHERE id = src.area_id) \
                     UNION ALL SELECT line, 'municipalityIds', 'no member municipality has the kommunkod ' || m \
                     FROM src, unnest(municipality_ids) m WHERE NOT EXISTS (SELECT 1 FROM municipalities WHERE id = m) \
                     UNION ALL SELECT line, 'municipalityIds', 'must name at least one commissioning municipality' \
                     FROM src WHERE cardinality(municipality_ids) = 0",
            existing: "SELECT s.line, t.municipality_ids AS owners, \
                       (t.title, t.description, t.municipality_ids, t.area_id, t.challenge, t.funding_type, t.funder, t.budget_sek, t.partners, t.start_date, t.end_date, t.responsible) \
                       IS DISTINCT FROM (s.title, s.description, s.municipality_ids, s.area_id, s.challenge, s.funding_type, s.funder, s.budget_sek, s.partners, s.start_date, s.end_date, s.responsible) AS changed \
                       FROM src s JOIN assignments t ON t.external_system = s.external_system AND t.external_id = s.external_id",
            apply: "INSERT INTO assignments (id, title, description, municipality_ids, area_id, challenge, funding_type, funder, budget_sek, partners, start_date, end_date, responsible, status, external_system, external_id) \
                    SELECT gen_random_uuid(), title, description, municipality_ids, area_id, challenge, funding_type, funder, budget_sek, partners, start_date, end_date, responsible, status, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET title = excluded.title, description = excluded.description, \
                    municipality_ids = excluded.municipality_ids, area_id = excluded.area_id, challenge = excluded.challenge, \
                    funding_type = excluded.funding_type, funder = excluded.funder, budget_sek = excluded.budget_sek, partners = excluded.partners, \
                    start_date = excluded.start_date, end_date = excluded.end_date, responsible = excluded.responsible \
                    WHERE (assignments.title, assignments.description, assignments.municipality_ids, assignments.area_id, assignments.challenge, assignments.funding_type, assignments.funder, assignments.budget_sek, assignments.partners, assignments.start_date, assignments.end_date, assignments.responsible) \
                    IS DISTINCT FROM (excluded.title, excluded.description, excluded.municipality_ids, excluded.area_id, excluded.challenge, excluded.funding_type, excluded.funder, excluded.budget_sek, excluded.partners, excluded.start_date, excluded.end_date, excluded.responsible) \
                    RETURNING (xmax = 0) AS inserted",
            table: "assignments",
            updated: &[
                "title",
                "description",
                "municipality_ids",
                "area_id",
                "challenge",
                "funding_type",
                "funder",
                "budget_sek",
                "partners",
                "start_date",
                "end_date",
                "responsible",
            ],
            owners: "t.municipality_ids",
            unfilled: "false",
        },
        Collection::ProgressReports => Statements {
            src: "SELECT line, (d->>'assignmentId')::uuid AS assignment_id, (d->>'year')::int AS year, (d->>'tertial')::smallint AS tertial, \
                  d->>'summary' AS summary, (d->>'spentSek')::bigint AS spent_sek, (d->>'forecastSek')::bigint AS forecast_sek, \
                  d->>'deviation' AS deviation, d->>'deviationNote' AS deviation_note, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'assignmentId' AS field, 'no assignment has this id' AS message FROM src \
                     WHERE NOT EXISTS (SELECT 1 FROM assignments WHERE id = src.assignment_id) \
                     UNION ALL SELECT s.line, 'assignmentId', 'a proposed assignment does not report progress' \
                     FROM src s JOIN assignments a ON a.id = s.assignment_id WHERE a.status = 'proposed' \
                     UNION ALL SELECT line, 'tertial', 'the assignment has this tertial on more than one line' FROM ( \
                         SELECT line, count(*) OVER (PARTITION BY assignment_id, year, tertial) AS n FROM src) x WHERE n > 1 \
                     UNION ALL SELECT s.line, 'tertial', 'the assignment already has a report for this tertial' \
                     FROM src s JOIN progress_reports r ON r.assignment_id = s.assignment_id AND r.year = s.year AND r.tertial = s.tertial \
                     WHERE r.id IS DISTINCT FROM s.id AND (s.external_id IS NULL OR r.external_system IS DISTINCT FROM s.external_system OR r.external_id IS DISTINCT FROM s.external_id) \
                     UNION ALL SELECT s.line, 'tertial', 'a report''s assignment, year and tertial do not change' \
                     FROM src s JOIN progress_reports r ON r.id = s.id OR (s.id IS NULL AND r.external_system = s.external_system AND r.external_id = s.external_id) \
                     WHERE (r.assignment_id, r.year, r.tertial) IS DISTINCT FROM (s.assignment_id, s.year, s.tertial)",
            existing: "SELECT s.line, a.municipality_ids AS owners, \
                       (t.summary, t.spent_sek, t.forecast_sek, t.deviation, t.deviation_note) \
                       IS DISTINCT FROM (s.summary, s.spent_sek, s.forecast_sek, s.deviation, s.deviation_note) AS changed \
                       FROM src s JOIN progress_reports t ON t.external_system = s.external_system AND t.external_id = s.external_id \
                       JOIN assignments a ON a.id = t.assignment_id",
            apply: "INSERT INTO progress_reports (id, assignment_id, year, tertial, summary, spent_sek, forecast_sek, deviation, deviation_note, external_system, external_id) \
                    SELECT gen_random_uuid(), assignment_id, year, tertial, summary, spent_sek, forecast_sek, deviation, deviation_note, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET summary = excluded.summary, spent_sek = excluded.spent_sek, \
                    forecast_sek = excluded.forecast_sek, deviation = excluded.deviation, deviation_note = excluded.deviation_note \
                    WHERE (progress_reports.summary, progress_reports.spent_sek, progress_reports.forecast_sek, progress_reports.deviation, progress_reports.deviation_note) \
                    IS DISTINCT FROM (excluded.summary, excluded.spent_sek, excluded.forecast_sek, excluded.deviation, excluded.deviation_note) \
                    RETURNING (xmax = 0) AS inserted",
            table: "progress_reports",
            updated: &[
                "summary",
                "spent_sek",
                "forecast_sek",
                "deviation",
                "deviation_note",
            ],
            owners: "(SELECT a.municipality_ids FROM assignments a WHERE a.id = t.assignment_id)",
            unfilled: "false",
        },
        Collection::Feedback => Statements {
            src: "SELECT line, (d->>'year')::int AS year, d->>'goal' AS goal, (d->>'networkId')::uuid AS network_id, \
                  d->>'municipalityId' AS municipality_id, (d->>'rating')::smallint AS rating, coalesce(d->>'comment', '') AS comment, \
                  coalesce(d->'suggestions', '[]') AS suggestions, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'goal' AS field, 'the plan for that year has no such goal' AS message FROM src \
                     WHERE NOT EXISTS (SELECT 1 FROM plan_goals g WHERE g.year = src.year AND g.challenge = src.goal) \
                     UNION ALL SELECT line, 'networkId', 'no network has this id' FROM src \
                     WHERE NOT EXISTS (SELECT 1 FROM networks WHERE id = src.network_id) \
                     UNION ALL SELECT line, 'municipalityId', 'no member municipality has this kommunkod' FROM src \
                     WHERE municipality_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM municipalities WHERE id = src.municipality_id)",
            existing: "SELECT s.line, ARRAY_REMOVE(ARRAY[t.municipality_id], NULL) AS owners, \
                       (t.year, t.goal, t.network_id, t.municipality_id, t.rating, t.comment, t.suggestions) \
                       IS DISTINCT FROM (s.year, s.goal, s.network_id, s.municipality_id, s.rating, s.comment, s.suggestions) AS changed \
                       FROM src s JOIN feedback t ON t.external_system = s.external_system AND t.external_id = s.external_id",
            apply: "INSERT INTO feedback (id, year, goal, network_id, municipality_id, rating, comment, suggestions, external_system, external_id) \
                    SELECT gen_random_uuid(), year, goal, network_id, municipality_id, rating, comment, suggestions, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET year = excluded.year, goal = excluded.goal, \
                    network_id = excluded.network_id, municipality_id = excluded.municipality_id, rating = excluded.rating, \
                    comment = excluded.comment, suggestions = excluded.suggestions \
                    WHERE (feedback.year, feedback.goal, feedback.network_id, feedback.municipality_id, feedback.rating, feedback.comment, feedback.suggestions) \
                    IS DISTINCT FROM (excluded.year, excluded.goal, excluded.network_id, excluded.municipality_id, excluded.rating, excluded.comment, excluded.suggestions) \
                    RETURNING (xmax = 0) AS inserted",
            table: "feedback",
            updated: &[
                "year",
                "goal",
                "network_id",
                "municipality_id",
                "rating",
                "comment",
                "suggestions",
            ],
            owners: "ARRAY_REMOVE(ARRAY[t.municipality_id], NULL)",
            unfilled: "false",
        },
        Collection::Events => Statements {
            // An all-day event's days become the instants of midnight in Sweden, as the API
            // computes them (`Timing::resolve`).
            src: "SELECT line, d->>'title' AS title, coalesce(d->>'description', '') AS description, d->>'kind' AS kind, \
                  coalesce((d->>'allDay')::boolean, false) AS all_day, \
                  CASE WHEN coalesce((d->>'allDay')::boolean, false) \
                       THEN timezone('Europe/Stockholm', (d->>'startDate')::date::timestamp) \
                       ELSE (d->>'startsAt')::timestamptz END AS starts_at, \
                  CASE WHEN coalesce((d->>'allDay')::boolean, false) \
                       THEN timezone('Europe/Stockholm', (coalesce(d->>'endDate', d->>'startDate')::date + 1)::timestamp) \
                       ELSE (d->>'endsAt')::timestamptz END AS ends_at, \
                  d->>'location' AS location, d->>'onlineUrl' AS online_url, d->>'organiser' AS organiser, \
                  (d->>'networkId')::uuid AS network_id, (d->>'areaId')::uuid AS area_id, \
                  ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'municipalityIds', '[]'))) AS municipality_ids, \
                  (d->>'capacity')::int AS capacity, (d->>'registrationDeadline')::timestamptz AS registration_deadline, \
                  coalesce((d->>'cancelled')::boolean, false) AS cancelled, \
                  d->>'externalSystem' AS external_system, d->>'externalId' AS external_id FROM import_rows",
            checks: "SELECT line, 'networkId' AS field, 'no network has this id' AS message FROM src \
                     WHERE network_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM networks WHERE id = src.network_id) \
                     UNION ALL SELECT line, 'areaId', 'no area has this id' FROM src \
                     WHERE area_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM areas WHERE id = src.area_id) \
                     UNION ALL SELECT line, 'municipalityIds', 'no member municipality has the kommunkod ' || m \
                     FROM src, unnest(municipality_ids) m WHERE NOT EXISTS (SELECT 1 FROM municipalities WHERE id = m)",
            existing: "SELECT s.line, t.municipality_ids AS owners, \
                       (t.title, t.description, t.kind, t.all_day, t.starts_at, t.ends_at, t.location, t.online_url, t.organiser, t.network_id, t.area_id, t.municipality_ids, t.capacity, t.registration_deadline, t.cancelled) \
                       IS DISTINCT FROM (s.title, s.description, s.kind, s.all_day, s.starts_at, s.ends_at, s.location, s.online_url, s.organiser, s.network_id, s.area_id, s.municipality_ids, s.capacity, s.registration_deadline, s.cancelled) AS changed \
                       FROM src s JOIN events t ON t.external_system = s.external_system AND t.external_id = s.external_id",
            apply: "INSERT INTO events (id, title, description, kind, all_day, starts_at, ends_at, location, online_url, organiser, network_id, area_id, municipality_ids, capacity, registration_deadline, cancelled, external_system, external_id) \
                    SELECT gen_random_uuid(), title, description, kind, all_day, starts_at, ends_at, location, online_url, organiser, network_id, area_id, municipality_ids, capacity, registration_deadline, cancelled, external_system, external_id FROM src \
                    ON CONFLICT (external_system, external_id) DO UPDATE SET title = excluded.title, description = excluded.description, kind = excluded.kind, all_day = excluded.all_day, starts_at = excluded.starts_at, ends_at = excluded.ends_at, location = excluded.location, online_url = excluded.online_url, organiser = excluded.organiser, network_id = excluded.network_id, area_id = excluded.area_id, municipality_ids = excluded.municipality_ids, capacity = excluded.capacity, registration_deadline = excluded.registration_deadline, cancelled = excluded.cancelled \
                    WHERE (events.title, events.description, events.kind, events.all_day, events.starts_at, events.ends_at, events.location, events.online_url, events.organiser, events.network_id, events.area_id, events.municipality_ids, events.capacity, events.registration_deadline, events.cancelled) \
                    IS DISTINCT FROM (excluded.title, excluded.description, excluded.kind, excluded.all_day, excluded.starts_at, excluded.ends_at, excluded.location, excluded.online_url, excluded.organiser, excluded.network_id, excluded.area_id, excluded.municipality_ids, excluded.capacity, excluded.registration_deadline, excluded.cancelled) \
                    RETURNING (xmax = 0) AS inserted",
            table: "events",
            updated: &[
                "title",
                "description",
                "kind",
                "all_day",
                "starts_at",
                "ends_at",
                "location",
                "online_url",
                "organiser",
                "network_id",
                "area_id",
                "municipality_ids",
                "capacity",
                "registration_deadline",
                "cancelled",
            ],
            owners: "t.municipality_ids",
            unfilled: "(k IN ('startsAt', 'endsAt') AND (rec.j->>'all_day')::boolean) \
                       OR (k IN ('startDate', 'endDate') AND NOT (rec.j->>'all_day')::boolean)",
        },
    }
}

/// `t.a, t.b, …`: the columns qualified by a table alias.
fn columns_of(alias: &str, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(diesel::QueryableByName)]
struct Problem {
    #[diesel(sql_type = BigInt)]
    line: i64,
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Text)]
    message: String,
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    created: i64,
    #[diesel(sql_type = BigInt)]
    updated: i64,
}

#[derive(diesel::QueryableByName)]
struct Existing {
    #[diesel(sql_type = BigInt)]
    line: i64,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    owners: Option<Vec<String>>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    changed: bool,
}

/// Owners of a row by its own values (for the binding check).
fn row_owners(collection: Collection, data: &Map<String, Value>) -> Option<Vec<String>> {
    match collection {
        Collection::Networks | Collection::Assignments | Collection::Events => Some(
            data.get("municipalityIds")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Collection::Members | Collection::Feedback => Some(
            data.get("municipalityId")
                .and_then(Value::as_str)
                .map(|m| vec![m.to_owned()])
                .unwrap_or_default(),
        ),
        // A report belongs to its assignment's municipalities: checked in SQL.
        Collection::ProgressReports => None,
    }
}

/// The problem of a row whose own values name a municipality the caller may not write for.
fn binding_problem(
    collection: Collection,
    caller: &crate::auth::Caller,
    line: u64,
    data: &Map<String, Value>,
) -> Option<Violation> {
    let owners = row_owners(collection, data)?;
    caller
        .may_write_for(owners.iter().map(String::as_str))
        .is_err()
        .then(|| {
            Violation::at(
                line,
                "municipalityId",
                "belongs to another municipality than this client's",
            )
        })
}

/// The problem of a row whose `id` no record of the collection has.
fn unknown_id(collection: Collection) -> String {
    format!(
        "no record in {} has this id: it may have been deleted since the export",
        collection.name()
    )
}

async fn stage(conn: &mut AsyncPgConnection, batch: &mut Vec<Row>) -> Result<(), ApiError> {
    if batch.is_empty() {
        return Ok(());
    }
    let lines: Vec<i64> = batch.iter().map(|r| r.line as i64).collect();
    let data: Vec<Value> = batch.drain(..).map(|r| Value::Object(r.data)).collect();
    diesel::sql_query(
        "INSERT INTO import_rows (line, d) SELECT * FROM unnest($1::bigint[], $2::jsonb[])",
    )
    .bind::<Array<BigInt>, _>(lines)
    .bind::<Array<Jsonb>, _>(data)
    .execute(conn)
    .await?;
    Ok(())
}

/// Parameters of a template.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TemplateParams {
    /// `sv`: Swedish column headers and labels (`Betyg`, `Fokusutmaningen`); it loads the same.
    #[param(inline, example = "sv")]
    pub labels: Option<labels::FileLabels>,
}

/// The collection `raw` names, or 404 listing the collections.
fn collection_of(raw: &str) -> Result<Collection, ApiError> {
    Collection::parse(raw).ok_or_else(|| {
        ApiError::NotFound(format!(
            "There is no collection {raw:?} to import into; collections are networks, members, assignments, progress-reports, feedback and events"
        ))
    })
}

/// The template of `collection`: the header row and one example row, as Swedish Excel opens
/// a CSV file (UTF-8 with BOM, `;`, CRLF).
fn template(collection: Collection, swedish: Option<&Vocabularies>) -> Vec<u8> {
    let columns = collection.columns();
    let headers = columns.iter().map(|c| match swedish {
        Some(_) => labels::header(c.name).to_owned(),
        None => c.name.to_owned(),
    });
    let example = columns.iter().map(|c| match (swedish, c.kind) {
        (Some(v), Kind::Enum(name)) => v
            .get(name)
            .map_or(c.example, |v| v.label(c.example))
            .to_owned(),
        (Some(v), Kind::Suggestions) => match (v.get(SUGGESTION_KIND), c.example.split_once(':')) {
            (Some(kinds), Some((kind, text))) => format!("{}:{text}", kinds.label(kind)),
            _ => c.example.to_owned(),
        },
        _ => c.example.to_owned(),
    });
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend(crate::integration::export::csv_record(headers));
    body.extend(crate::integration::export::csv_record(example));
    body
}

/// The columns of every collection's files, as Markdown, for the template operation's
/// description: each column's Swedish header, how it is read, whether it is required, and
/// what it means.
pub fn columns_documentation(vocabularies: &Vocabularies) -> String {
    let mut out = String::new();
    for collection in Collection::ALL {
        out.push_str(&format!(
            "\n\n**{}**\n\n| column | Swedish header | type | required | meaning |\n|---|---|---|---|---|\n",
            collection.name()
        ));
        for c in collection.columns() {
            let kind = match c.kind {
                Kind::Id => "UUID".to_owned(),
                Kind::Text => "text".to_owned(),
                Kind::Int => "whole number".to_owned(),
                Kind::Bool => "`true` or `false` (`ja`, `nej`)".to_owned(),
                Kind::List => "list, `|`-separated".to_owned(),
                Kind::Suggestions => format!(
                    "`kind:text`, `|`-separated; kind {}",
                    vocabularies
                        .get(SUGGESTION_KIND)
                        .map(Vocabulary::describe)
                        .unwrap_or_default()
                ),
                Kind::Enum(name) => vocabularies
                    .get(name)
                    .map(Vocabulary::describe)
                    .unwrap_or_else(|| name.to_owned()),
            };
            let required = if collection.required().contains(&c.name) {
                "yes"
            } else {
                "no"
            };
            // A `|` inside a Markdown table cell is escaped, even in code.
            out.push_str(&format!(
                "| `{}` | {} | {} | {required} | {} |\n",
                c.name,
                labels::header(c.name),
                kind.replace('|', "\\|"),
                c.about.replace('|', "\\|")
            ));
        }
    }
    out.push_str(
        "\nAn export of the collection adds `id` and `version` (a row with an `id` updates that \
         record; `version` is its `If-Match`) and `createdAt`/`updatedAt` (read and ignored). \
         A row with an `id` may leave columns out (a CSV header without them, NDJSON keys \
         absent): they keep the record's values; an empty cell clears an optional field.",
    );
    out
}

/// An import template
///
/// An Excel-ready CSV file for a collection: the header row and one example row (with the demo
/// data's ids, so that it loads into the demo as it is). Fill in rows below it, delete the
/// example, save as "CSV UTF-8" or "CSV (semikolonavgränsad)" and load it with
/// `POST /v1/imports/{collection}`. `labels=sv` gives Swedish headers and labels. The columns
/// of each collection:
#[utoipa::path(
    operation_id = "importTemplate",
    tag = "Imports",
    params(
        ("collection" = inline(Collection), Path, description = "The collection", example = "feedback"),
        TemplateParams,
    ),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "The template", content_type = "text/csv",
            body = String,
            headers(
                ("ETag" = String, description = "The template's entity tag"),
                ("Content-Disposition" = String, description = "`attachment; filename=\"feedback-mall.csv\"`"),
            ),
            example = "\u{feff}year;goal;networkId;municipalityId;rating;comment;suggestions;externalSystem;externalId\r\n2022;focus;d1000000-0000-4000-8000-000000000001;2281;4;Bra stöd i kompetensförsörjningen.;development:Gemensam strategi för kompetensförsörjning;;\r\n"),
        (status = 304, description = "The client's copy is current (`If-None-Match`)"),
        (status = 404, description = "No such collection", body = crate::error::Problem, content_type = "application/problem+json"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/imports/{collection}/template")]
pub async fn import_template(
    req: HttpRequest,
    path: web::Path<String>,
    params: Query<TemplateParams>,
    checks: web::Data<RowChecks>,
) -> Result<HttpResponse, ApiError> {
    let collection = collection_of(&path)?;
    let swedish = params.0.labels.map(|_| &checks.vocabularies);
    let body = template(collection, swedish);
    let etag = crate::http::content_etag(&body);
    let cache = "private, max-age=3600";
    if crate::http::conditional::if_none_match(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-mall.csv\"", collection.name()),
        ))
        .body(body))
}

/// Bulk-load a collection
///
/// `collection` is `networks`, `members`, `assignments`, `progress-reports`, `feedback` or
/// `events`. Send
/// `text/csv` (header row of field names or their Swedish headers, as `labels=sv` exports and
/// templates write them; `;`, `,` or TAB detected; UTF-8 with or without BOM, Windows-1252, or
/// UTF-16 with BOM, as Excel saves them; quoted fields may hold separators and newlines; lists
/// `|`-separated; suggestions as `kind:text|kind:text`) or `application/x-ndjson` (one JSON
/// object per line). Enum values may be written as their Swedish labels (`Pågår`,
/// `Fokusutmaningen`; listed on each enum schema), whatever the case and accents. The columns
/// are documented, with a template, at `GET /v1/imports/{collection}/template`. All or nothing: if any line is wrong
/// nothing is written, and the problem lists every problem of the file (at most 1 000) with
/// `line`, `field` and `message`. A row with an `id` (as exported) updates that record, and its
/// `version`, when given, is the row's `If-Match`: a record changed since the export is a
/// `conflict` on that line. Columns a row with an `id` leaves out keep the record's values
/// (filled in, then the whole row is checked); an empty cell clears an optional field. Rows with `externalSystem`/`externalId` upsert by them; rows with
/// neither create. Unchanged rows are not written at all. `?dryRun=true` reports what
/// would happen. At most 200 MiB and 1 000 000 rows. A client bound to a municipality may load
/// only its municipality's records.
#[utoipa::path(
    operation_id = "importCollection",
    tag = "Imports",
    params(
        ("collection" = inline(Collection), Path, description = "The collection to load", example = "feedback"),
        ImportParams,
    ),
    request_body(content = String, description = "CSV or NDJSON", content_type = "text/csv",
        example = "year;goal;networkId;rating;comment;suggestions\n2022;focus;3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51;4;Bra stöd;development:Gemensam strategi\n"),
    security(("clientCredentials" = ["import"])),
    responses(
        (status = 200, description = "Loaded (or, in a dry run, what would be loaded)", body = ImportResult),
        (status = 400, description = "Bad lines: nothing was written", body = crate::error::Problem, content_type = "application/problem+json",
            example = json!({"type": "/problems/validation-failed", "title": "Your request parameters didn't validate", "status": 400,
                "detail": "Nothing was written: 1 problem in the file (at most 1000 are listed)", "instance": "/v1/imports/feedback",
                "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c",
                "violations": [{"line": 50000, "field": "rating", "message": "must be 1, 2, 3, 4 or 5"}]})),
        (status = 403, description = "A line belongs to another municipality than the client's", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 200 MiB or 1 000 000 rows", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither CSV nor NDJSON", body = crate::error::Problem, content_type = "application/problem+json"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[post("/imports/{collection}")]
pub async fn import(
    req: HttpRequest,
    writer: Writer,
    path: web::Path<String>,
    params: Query<ImportParams>,
    limits: web::Data<ImportLimits>,
    checks: web::Data<RowChecks>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let open = req
        .app_data::<web::Data<crate::http::ratelimit::OpenRequests>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no open-request budgets")))?;
    let mut payload = payload.into_inner();
    let limits = **limits;
    let collection = collection_of(&path)?;
    let check = checks.of(collection).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "no row check registered for {}",
            collection.name()
        ))
    })?;
    let vocabularies = checks.vocabularies;
    let dry_run = params.0.dry_run.unwrap_or(false);
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let csv = match media.as_str() {
        "text/csv" | "application/csv" => true,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => false,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "Send text/csv or application/x-ndjson".to_owned(),
            ));
        }
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(ApiError::PayloadTooLarge(limits.max_bytes as usize));
    }

    // The whole body first, into a temporary file: a slow upload holds no database connection
    // and no place in the bulk share. Then file → parser thread → staged rows, concurrently.
    let body = crate::http::spool::body_to_file(
        &mut payload,
        None,
        limits.max_bytes,
        crate::http::body_idle_timeout(&req),
    )
    .await?;
    let (rows_tx, mut rows_rx) = mpsc::channel::<Parsed>(4096);
    let parser = std::thread::Builder::new()
        .name("import-parser".to_owned())
        .spawn(move || {
            parse(
                collection,
                check,
                vocabularies,
                csv,
                limits.max_rows,
                body,
                rows_tx,
            )
        })
        .map_err(ApiError::internal)?;

    let caller = &writer.caller;
    let _share = open.bulk().await?;
    let mut conn = writer.db().conn().await?;
    let table_ready = conn
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_rows (line bigint NOT NULL, d jsonb NOT NULL); \
             TRUNCATE import_rows",
        )
        .await;
    if let Err(e) = table_ready {
        return Err(e.into());
    }
    let consume = async {
        let mut problems: Vec<Violation> = Vec::new();
        let mut fatal: Option<ApiError> = None;
        let mut batch = Vec::with_capacity(BATCH);
        let mut rows = 0u64;
        // Whether a row left columns out, to be filled from its record.
        let mut partial = false;
        while let Some(item) = rows_rx.recv().await {
            match item {
                Parsed::Row(row) => {
                    rows += 1;
                    // A row that leaves columns out is checked once they are filled.
                    if row.data.contains_key(KEPT) {
                        partial = true;
                    } else if let Some(problem) =
                        binding_problem(collection, caller, row.line, &row.data)
                    {
                        problems.push(problem);
                        continue;
                    }
                    // Valid rows are staged even when others are wrong, so that the
                    // database's checks of them come in the same answer.
                    batch.push(row);
                    if batch.len() >= BATCH {
                        stage(&mut conn, &mut batch).await?;
                    }
                }
                Parsed::Error(v) => {
                    if problems.len() < ERROR_CAP {
                        problems.push(v);
                    }
                }
                Parsed::Fatal(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
        stage(&mut conn, &mut batch).await?;
        if partial && fatal.is_none() {
            let recheck = Recheck { check, caller };
            problems.extend(fill_kept(&mut conn, collection, Some(recheck)).await?);
        }
        Ok::<_, ApiError>((rows, partial, problems, fatal))
    };
    let consumed = consume.await;
    let _ = parser.join();
    let (rows, partial, mut problems, fatal) = consumed?;
    if let Some(e) = fatal {
        let _ = conn.batch_execute("DROP TABLE IF EXISTS import_rows").await;
        return Err(match e {
            ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(limits.max_bytes as usize),
            other => other,
        });
    }
    let forbidden = problems
        .iter()
        .any(|p| p.message.contains("another municipality"));
    let result = if problems.is_empty() {
        writer
            .run_on(&mut conn, async |work| {
                finish(work, collection, rows, partial, dry_run).await
            })
            .await
    } else if forbidden {
        Err(ApiError::Validation(Vec::new()))
    } else {
        // The file is refused already; the database's checks of its valid rows join the list.
        // If they cannot be had (a slow database), the file's own problems still answer.
        match database_problems(&mut conn, collection).await {
            Ok(more) => Err(ApiError::Validation(more)),
            Err(e) => {
                tracing::warn!(error = %e, "the database checks of a refused file failed");
                Err(ApiError::Validation(Vec::new()))
            }
        }
    };
    let _ = conn.batch_execute("DROP TABLE IF EXISTS import_rows").await;
    match result {
        Ok(r) => Ok(HttpResponse::Ok().json(r)),
        Err(ApiError::Validation(more)) => {
            problems.extend(more);
            problems.sort_by_key(|p| p.line);
            problems.truncate(ERROR_CAP);
            if forbidden {
                let lines: Vec<String> = problems
                    .iter()
                    .filter_map(|p| p.line)
                    .take(10)
                    .map(|l| l.to_string())
                    .collect();
                return Err(ApiError::Forbidden(format!(
                    "Nothing was written: lines {} belong to another municipality than this client's",
                    lines.join(", ")
                )));
            }
            Err(ApiError::Validation(problems))
        }
        Err(e) => Err(e),
    }
}

/// What [`fill_kept`] does besides filling: check the filled rows whole, for a caller.
struct Recheck<'a> {
    check: RowCheck,
    caller: &'a crate::auth::Caller,
}

/// Fills the columns that rows naming a record left out ([`KEPT`]) with that record's values,
/// so that such a row changes only the columns it has. With `recheck`, the filled rows are then
/// checked whole, by the resource's rules and the caller's municipality binding, and rows that
/// fail or name no record leave the staged rows, their problems returned. Run again in the
/// writing transaction (without `recheck`), it refreshes the filled values under a lock on the
/// records, so that a change made meanwhile to a column the file leaves out is kept.
async fn fill_kept(
    conn: &mut AsyncPgConnection,
    collection: Collection,
    recheck: Option<Recheck<'_>>,
) -> Result<Vec<Violation>, ApiError> {
    #[derive(diesel::QueryableByName)]
    struct Filled {
        #[diesel(sql_type = BigInt)]
        line: i64,
        #[diesel(sql_type = Jsonb)]
        d: Value,
    }
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = BigInt)]
        line: i64,
    }
    let Statements {
        table, unfilled, ..
    } = statements(collection);
    let mut problems = Vec::new();
    if recheck.is_some() {
        let unknown: Vec<Line> = diesel::sql_query(format!(
            "DELETE FROM import_rows r WHERE r.d -> '{KEPT}' IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = (r.d->>'id')::uuid) RETURNING r.line"
        ))
        .load(conn)
        .await?;
        problems.extend(
            unknown
                .into_iter()
                .map(|l| Violation::at(l.line as u64, "id", unknown_id(collection))),
        );
    }
    // A column's field is its table column in snake case (`networkId`: `network_id`).
    let filled: Vec<Filled> = diesel::sql_query(format!(
        "UPDATE import_rows r SET d = r.d || (SELECT coalesce(jsonb_object_agg(k, rec.j -> \
             lower(regexp_replace(k, '([A-Z])', '_\\1', 'g'))), '{{}}'::jsonb) \
             FROM jsonb_array_elements_text(r.d -> '{KEPT}') k WHERE NOT ({unfilled})) \
         FROM (SELECT t.id, to_jsonb(t) AS j FROM {table} t WHERE t.id IN \
             (SELECT (d->>'id')::uuid FROM import_rows WHERE d -> '{KEPT}' IS NOT NULL) FOR UPDATE) rec \
         WHERE r.d -> '{KEPT}' IS NOT NULL AND rec.id = (r.d->>'id')::uuid \
         RETURNING r.line, r.d"
    ))
    .load(conn)
    .await?;
    let Some(Recheck { check, caller }) = recheck else {
        return Ok(problems);
    };
    let mut failed = Vec::new();
    for row in filled {
        let line = row.line as u64;
        let Value::Object(mut data) = row.d else {
            continue;
        };
        for key in ["id", "version", KEPT] {
            data.remove(key);
        }
        let before = problems.len();
        check_row(collection, check, line, &mut data, &mut problems);
        problems.extend(binding_problem(collection, caller, line, &data));
        if problems.len() > before {
            failed.push(row.line);
        }
    }
    if !failed.is_empty() {
        diesel::sql_query("DELETE FROM import_rows WHERE line = ANY($1)")
            .bind::<Array<BigInt>, _>(failed)
            .execute(conn)
            .await?;
    }
    Ok(problems)
}

/// The staged rows as the statements read them.
struct Sources {
    /// `SELECT` of every staged row, typed, with `id` and `version`.
    all: String,
    /// `src_all` (every row) and `src` (the rows without an `id`), for a `WITH`.
    by_ref: String,
    /// The updated columns of the record (`t.…`) and of the row (`s.…`).
    t_cols: String,
    s_cols: String,
}

fn sources(collection: Collection) -> Sources {
    let sql = statements(collection);
    // Every row, with the record it names (`id`) and the version it was exported at; the rows
    // without an `id` (`src` in the upsert statements), and the rows with one.
    let all = format!(
        "{}, (d->>'id')::uuid AS id, (d->>'version')::bigint AS version FROM import_rows",
        sql.src.strip_suffix(" FROM import_rows").unwrap_or(sql.src)
    );
    let by_ref = format!("src_all AS ({all}), src AS (SELECT * FROM src_all WHERE id IS NULL)");
    Sources {
        all,
        by_ref,
        t_cols: columns_of("t", sql.updated),
        s_cols: columns_of("s", sql.updated),
    }
}

/// What the database says of the staged rows: references to records that do not exist,
/// repeated external references and ids, unknown ids, and conflicts (a record changed since
/// the export, to other values than the row's), by line, at most [`ERROR_CAP`].
async fn database_problems(
    conn: &mut AsyncPgConnection,
    collection: Collection,
) -> Result<Vec<Violation>, ApiError> {
    let sql = statements(collection);
    let Sources {
        all,
        t_cols,
        s_cols,
        ..
    } = sources(collection);
    let table = sql.table;
    let by_id = format!(
        "SELECT s.line, 'id' AS field, '{unknown}' AS message \
         FROM src s WHERE s.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id) \
         UNION ALL SELECT s.line, 'version', 'conflict: the record was changed after this file was exported (it is at version ' \
             || t.version || ', the row at ' || s.version || '); export it again and make the change there' \
         FROM src s JOIN {table} t ON t.id = s.id WHERE s.version IS NOT NULL AND s.version <> t.version \
             AND ({t_cols}) IS DISTINCT FROM ({s_cols}) \
         UNION ALL SELECT line, 'id', 'this id is on more than one line' FROM ( \
             SELECT line, count(*) OVER (PARTITION BY id) AS n FROM src WHERE id IS NOT NULL) x WHERE n > 1",
        unknown = unknown_id(collection)
    );
    let duplicates = "SELECT line, 'externalId' AS field, 'this externalSystem/externalId is on more than one line' AS message FROM ( \
         SELECT line, count(*) OVER (PARTITION BY d->>'externalSystem', d->>'externalId') AS n FROM import_rows \
         WHERE d->>'externalId' IS NOT NULL) x WHERE n > 1";
    let problems: Vec<Problem> = diesel::sql_query(format!(
        "WITH src AS ({all}) SELECT * FROM ({} UNION ALL {duplicates} UNION ALL {by_id}) p \
         ORDER BY line LIMIT {ERROR_CAP}",
        sql.checks
    ))
    .load(conn)
    .await?;
    Ok(problems
        .into_iter()
        .map(|p| Violation::at(p.line as u64, p.field, p.message))
        .collect())
}

/// Checks the staged rows against the database and, unless a dry run, writes them, in one
/// transaction: the only moment the load holds back the change feed.
async fn finish(
    work: &mut Work<'_>,
    collection: Collection,
    rows: u64,
    partial: bool,
    dry_run: bool,
) -> Result<ImportResult, ApiError> {
    let sql = statements(collection);
    let Sources {
        by_ref,
        t_cols,
        s_cols,
        ..
    } = sources(collection);
    let table = sql.table;
    {
        // The set-based check and write of a large file may take longer than an ordinary
        // statement may; for this transaction only.
        work.conn()
            .batch_execute("SET LOCAL statement_timeout = '30min'")
            .await?;
        if partial {
            fill_kept(work.conn(), collection, None).await?;
        }
        let problems = database_problems(work.conn(), collection).await?;
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        let existing: Vec<Existing> = diesel::sql_query(format!(
            "WITH {by_ref} {} UNION ALL SELECT s.line, {} AS owners, \
             ({t_cols}) IS DISTINCT FROM ({s_cols}) AS changed \
             FROM src_all s JOIN {table} t ON t.id = s.id",
            sql.existing, sql.owners
        ))
        .load(work.conn())
        .await?;
        let mut forbidden = Vec::new();
        for e in &existing {
            let owners = e.owners.clone().unwrap_or_default();
            if work.bind(&owners).is_err() {
                forbidden.push(Violation::at(
                    e.line as u64,
                    "municipalityId",
                    "updates a record of another municipality than this client's",
                ));
            }
        }
        if collection == Collection::ProgressReports {
            #[derive(diesel::QueryableByName)]
            struct Owner {
                #[diesel(sql_type = BigInt)]
                line: i64,
                #[diesel(sql_type = Array<Text>)]
                owners: Vec<String>,
            }
            let owners: Vec<Owner> = diesel::sql_query(format!(
                "WITH src AS ({}) SELECT s.line, a.municipality_ids AS owners FROM src s JOIN assignments a ON a.id = s.assignment_id",
                sql.src
            ))
            .load(work.conn())
            .await?;
            for o in owners {
                if work.bind(&o.owners).is_err() {
                    forbidden.push(Violation::at(
                        o.line as u64,
                        "assignmentId",
                        "belongs to another municipality than this client's",
                    ));
                }
            }
        }
        if !forbidden.is_empty() {
            forbidden.truncate(ERROR_CAP);
            let lines: Vec<String> = forbidden
                .iter()
                .filter_map(|p| p.line)
                .take(10)
                .map(|l| l.to_string())
                .collect();
            return Err(ApiError::Forbidden(format!(
                "Nothing was written: lines {} belong to another municipality than this client's",
                lines.join(", ")
            )));
        }
        let would_update = existing.iter().filter(|e| e.changed).count() as u64;
        let would_keep = existing.len() as u64 - would_update;
        if dry_run {
            #[derive(diesel::QueryableByName)]
            struct Line {
                #[diesel(sql_type = BigInt)]
                line: i64,
            }
            let lines: Vec<i64> = diesel::sql_query("SELECT line FROM import_rows ORDER BY line")
                .load::<Line>(work.conn())
                .await?
                .into_iter()
                .map(|l| l.line)
                .collect();
            let existing: Vec<(i64, bool)> = existing.iter().map(|e| (e.line, e.changed)).collect();
            return Ok(ImportResult {
                collection: collection.name().to_owned(),
                dry_run: true,
                rows,
                created: rows - existing.len() as u64,
                updated: would_update,
                unchanged: would_keep,
                lines: Some(LineOutcomes::of(&lines, &existing)),
            });
        }
        let columns = sql.updated.join(", ");
        let counts: Counts = diesel::sql_query(format!(
            "WITH {by_ref}, \
             by_id AS (UPDATE {table} t SET ({columns}) = ROW({s_cols}) FROM src_all s \
                 WHERE s.id IS NOT NULL AND t.id = s.id AND ({t_cols}) IS DISTINCT FROM ({s_cols}) \
                 RETURNING false AS inserted), \
             written AS ({}) \
             SELECT count(*) FILTER (WHERE inserted) AS created, count(*) FILTER (WHERE NOT inserted) AS updated \
             FROM (SELECT inserted FROM written UNION ALL SELECT inserted FROM by_id) w",
            sql.apply
        ))
        .get_result(work.conn())
        .await?;
        let result = ImportResult {
            collection: collection.name().to_owned(),
            dry_run: false,
            rows,
            created: counts.created as u64,
            updated: counts.updated as u64,
            unchanged: rows - counts.created as u64 - counts.updated as u64,
            lines: None,
        };
        if result.created + result.updated > 0 {
            work.record(Change {
                action: "import",
                kind: collection.name(),
                id: &uuid::Uuid::new_v4().to_string(),
                before: None,
                after: serde_json::to_value(&result).ok(),
            })
            .await?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swedish_decimal_comma_is_an_error_not_a_misread() {
        let err = cell(Kind::Int, "budgetSek", "1 500,50").expect_err("decimals");
        assert!(err.contains("decimal comma"), "{err}");
        assert_eq!(
            cell(Kind::Int, "budgetSek", "1 500 000").ok(),
            Some(Value::from(1_500_000))
        );
        assert_eq!(cell(Kind::Int, "budgetSek", "").ok(), Some(Value::Null));
    }

    fn parse_all(collection: Collection, csv: bool, body: &str) -> Vec<(u64, String)> {
        let (tx, mut rx) = mpsc::channel(1024);
        let checks = crate::resources::row_checks();
        let check = checks.of(collection).expect("a check for every collection");
        parse(
            collection,
            check,
            checks.vocabularies,
            csv,
            1000,
            body.as_bytes(),
            tx,
        );
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            match item {
                Parsed::Row(r) => out.push((r.line, "row".to_owned())),
                Parsed::Error(v) => out.push((v.line.unwrap_or(0), v.field)),
                Parsed::Fatal(e) => out.push((0, e.to_string())),
            }
        }
        out
    }

    #[test]
    fn lines_are_numbered_from_the_header_as_line_one() {
        let csv = "\u{feff}year;goal;networkId;rating\r\n2022;core;00000000-0000-4000-8000-000000000001;4\r\n2022;core;00000000-0000-4000-8000-000000000001;\"multi\nline\"\r\n2022;core;00000000-0000-4000-8000-000000000001;6\r\n";
        assert_eq!(
            parse_all(Collection::Feedback, true, csv),
            [
                (2, "row".to_owned()),
                (3, "rating".to_owned()),
                (5, "rating".to_owned())
            ]
        );
        let ndjson = "{\"year\":2022,\"goal\":\"core\",\"networkId\":\"00000000-0000-4000-8000-000000000001\",\"rating\":4}\n\nnot json\n";
        assert_eq!(
            parse_all(Collection::Feedback, false, ndjson),
            [(1, "row".to_owned()), (3, "body".to_owned())]
        );
    }

    #[test]
    fn lists_and_suggestions_read_from_cells() {
        assert_eq!(
            cell(Kind::List, "municipalityIds", "2281|2262").ok(),
            Some(serde_json::json!(["2281", "2262"]))
        );
        assert_eq!(
            cell(
                Kind::Suggestions,
                "suggestions",
                "development:Gemensam strategi|advocacy:Nära vård"
            )
            .ok(),
            Some(
                serde_json::json!([{"kind": "development", "text": "Gemensam strategi"}, {"kind": "advocacy", "text": "Nära vård"}])
            )
        );
        assert!(cell(Kind::Suggestions, "suggestions", "ingen kolon").is_err());
    }
}
