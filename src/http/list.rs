//! Paging and sorting of lists, shared by every collection.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Violation};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 500;
/// The last page one may ask for (keeps offsets far from overflow).
pub const MAX_PAGE: u32 = 1_000_000;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub limit: u32,
}

impl Paging {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    pub fn meta(&self, count: usize, total_records: i64) -> PageMeta {
        let limit = i64::from(self.limit);
        PageMeta {
            page: self.page,
            limit: self.limit,
            count: count as u32,
            total_records,
            total_pages: (total_records + limit - 1) / limit,
        }
    }
}

/// Paging information of a list answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"page": 1, "limit": 20, "count": 7, "totalRecords": 7, "totalPages": 1}))]
pub struct PageMeta {
    /// The page returned, from 1.
    pub page: u32,
    /// The page size asked for.
    pub limit: u32,
    /// Items on this page.
    pub count: u32,
    /// Items matching the filters, on all pages.
    pub total_records: i64,
    /// Pages at this page size.
    pub total_pages: i64,
}

/// Validates `limit` (1..=500, default 20) and `page` (from 1, default 1).
pub fn paging(limit: Option<u32>, page: Option<u32>) -> Result<Paging, ApiError> {
    let mut v = Vec::new();
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        v.push(Violation::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        v.push(Violation::new("page", "must be at least 1"));
    }
    if page > MAX_PAGE {
        v.push(Violation::new(
            "page",
            format!("must be at most {MAX_PAGE}"),
        ));
    }
    if v.is_empty() {
        Ok(Paging { page, limit })
    } else {
        Err(ApiError::Validation(v))
    }
}

/// One key of a `sort` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey<F> {
    pub field: F,
    pub descending: bool,
}

impl<F> SortKey<F> {
    pub const fn asc(field: F) -> Self {
        Self {
            field,
            descending: false,
        }
    }

    pub const fn desc(field: F) -> Self {
        Self {
            field,
            descending: true,
        }
    }
}

/// The page and the order a list request asks for.
#[derive(Debug, Clone)]
pub struct Listing<F> {
    pub paging: Paging,
    pub sort: Vec<SortKey<F>>,
    /// The free-text search `q`, for collections that have one.
    pub search: Option<Search>,
}

impl<F> Listing<F> {
    /// The listing with a search (`q`).
    pub fn searching(self, search: Option<Search>) -> Self {
        Self { search, ..self }
    }
}

/// The paging and sort keys of a list request (`default` without `sort`); what is wrong with
/// them is added to `v`.
pub fn listing<F: SortField>(
    v: &mut crate::error::Violations,
    limit: Option<u32>,
    page: Option<u32>,
    sort_keys: Option<&str>,
    default: SortKey<F>,
) -> Option<Listing<F>> {
    let paging = v.check(paging(limit, page));
    let sort = v.check(sort(sort_keys, &[default]));
    Some(Listing {
        paging: paging?,
        sort: sort?,
        search: None,
    })
}

/// A field a collection can be sorted by, named as in its JSON.
pub trait SortField: Copy + PartialEq + Sized + 'static {
    const ALL: &'static [(&'static str, Self)];
}

/// Parses `sort=name,-updatedAt`: a comma-separated list of fields, `-` for descending.
pub fn sort<F: SortField>(
    raw: Option<&str>,
    default: &[SortKey<F>],
) -> Result<Vec<SortKey<F>>, ApiError> {
    let Some(raw) = raw else {
        return Ok(default.to_vec());
    };
    let mut keys = Vec::new();
    for part in raw.split(',').map(str::trim) {
        let (name, descending) = match part.strip_prefix('-') {
            Some(name) => (name, true),
            None => (part.strip_prefix('+').unwrap_or(part), false),
        };
        let Some((_, field)) = F::ALL.iter().find(|(n, _)| *n == name) else {
            let allowed: Vec<&str> = F::ALL.iter().map(|(n, _)| *n).collect();
            return Err(ApiError::invalid(
                "sort",
                format!(
                    "cannot sort by {name:?}; sortable fields: {} (prefix - for descending)",
                    allowed.join(", ")
                ),
            ));
        };
        if keys.iter().any(|k: &SortKey<F>| k.field == *field) {
            continue;
        }
        keys.push(SortKey {
            field: *field,
            descending,
        });
    }
    Ok(keys)
}

/// Validates a free-text `q`.
pub fn search_text(q: Option<String>) -> Result<Option<String>, ApiError> {
    match q {
        None => Ok(None),
        Some(q) if q.trim().is_empty() => Ok(None),
        Some(q) if q.chars().count() > 200 => {
            Err(ApiError::invalid("q", "must be at most 200 characters"))
        }
        Some(q) => Ok(Some(q.trim().to_owned())),
    }
}

/// Words that say nothing on their own (PostgreSQL's Swedish stop words): a search leaves them
/// out, as the Swedish text search configuration does.
const STOP_WORDS: &str = include_str!("swedish.stop");

/// How close (`pg_trgm` word similarity) a searched word must be to a stretch of a record's
/// text to count as the same word mistyped; every pooled connection sets it.
pub const TYPO_SIMILARITY: f64 = 0.5;

/// At most this many words in one search.
pub const MAX_SEARCH_WORDS: usize = 8;

/// A free-text search, as the database matches it: the words of `q` in lower case, split at
/// anything that is not a letter or digit (`Digitaliseringsguiden.se` is two words, `ESF+` one),
/// without stop words. Once its typos are corrected ([`Search::correct`]), a record matches when it
/// has every word ([`Corrected::matches`]); `ranked` (no `sort` given) orders the hits by relevance
/// ([`Corrected::score`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// Letters and digits only, by construction (see [`Search::parse`]).
    pub words: Vec<String>,
    pub ranked: bool,
}

impl Search {
    /// Validates `q` (at most 200 characters and 8 words) and splits it into words.
    pub fn parse(q: Option<String>, ranked: bool) -> Result<Option<Search>, ApiError> {
        let Some(q) = search_text(q)? else {
            return Ok(None);
        };
        let mut words: Vec<String> = Vec::new();
        for word in q.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if !word.is_empty() && !STOP_WORDS.lines().any(|s| s == word) && !words.contains(&word)
            {
                words.push(word);
            }
        }
        if words.len() > MAX_SEARCH_WORDS {
            return Err(ApiError::invalid(
                "q",
                format!("must have at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        Ok(Some(Search { words, ranked }))
    }

    /// The search with its words looked up in the table `search_words` (every word of 4
    /// letters or more of every searchable text, trigram-indexed), in one statement, once per
    /// request, so that the statements that then count and rank the hits carry real words as
    /// literals and none of them looks a word up again:
    ///
    /// - the words that contain a word of 3 letters or more (`skolchefsnätverket` for `chef`),
    ///   when there are at most [`MAX_PARTS`]; the hits are then found in each table's
    ///   full-text index instead of by trigrams in its text, which costs milliseconds per
    ///   table for a long word;
    /// - a word of 6 letters or more that no record has, whole or as a part of a word, is taken
    ///   for a typo: it stands for the closest [`MAX_CORRECTIONS`] words with a `pg_trgm` word
    ///   similarity of at least [`TYPO_SIMILARITY`]. A word that some record has stands only
    ///   for the close words that differ from it in the last 30 % of their letters, its other
    ///   forms (`rekrytering` for `rekrytera`), where the Swedish stemmer leaves them apart:
    ///   `digitaliseringsnätverket` does not also find `digitaliseringsforumet`. Words that start
    ///   with the word are left out: its prefix finds them already.
    pub async fn correct(
        self,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<Corrected, ApiError> {
        use diesel::sql_types::{Array, Bool, Double, Integer, Text};
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Found {
            #[diesel(sql_type = Integer)]
            i: i32,
            #[diesel(sql_type = Text)]
            word: String,
            #[diesel(sql_type = Bool)]
            part: bool,
            /// How close a correction is (`pg_trgm` word similarity).
            #[diesel(sql_type = Double)]
            closeness: f64,
        }
        let n = self.words.len();
        let mut corrected = Corrected {
            parts: vec![Some(Vec::new()); n],
            near: vec![Vec::new(); n],
            search: self,
        };
        if corrected.search.words.iter().all(|w| w.chars().count() < 3) {
            return Ok(corrected);
        }
        let rows: Vec<Found> = diesel::sql_query(format!(
            "WITH w AS (SELECT word, i FROM unnest($1::text[]) WITH ORDINALITY AS w(word, i) \
                        WHERE length(word) >= 3), \
             p AS (SELECT w.i, s.word FROM w CROSS JOIN LATERAL (SELECT s.word FROM search_words s \
                   WHERE s.word LIKE '%' || w.word || '%' ORDER BY s.word LIMIT {parts}) s) \
             SELECT i::int4 AS i, word, true AS part, 1::float8 AS closeness FROM p \
             UNION ALL \
             SELECT w.i::int4, c.word, false, 1 - c.distance FROM w CROSS JOIN LATERAL \
                   (SELECT s.word, w.word <<-> s.word AS distance FROM search_words s \
                    WHERE w.word <% s.word AND NOT starts_with(s.word, w.word) \
                    AND (NOT EXISTS (SELECT FROM p WHERE p.i = w.i) \
                         OR left(s.word, {keep}) = left(w.word, {keep})) \
                    ORDER BY 2, s.word LIMIT {MAX_CORRECTIONS}) c \
             WHERE length(w.word) >= 6",
            keep = "ceil(length(w.word) * 0.7)::int",
            parts = MAX_PARTS + 1,
        ))
        .bind::<Array<Text>, _>(&corrected.search.words)
        .load(conn)
        .await?;
        for row in rows {
            // The table's words are a text's letters and digits; anything else is skipped, so
            // that a word is always a plain word inside a `tsquery`.
            if row.word.is_empty() || !row.word.chars().all(char::is_alphanumeric) {
                continue;
            }
            let Some(i) = usize::try_from(row.i - 1).ok().filter(|i| *i < n) else {
                continue;
            };
            if row.part {
                if let Some(parts) = &mut corrected.parts[i] {
                    parts.push(row.word);
                }
            } else {
                corrected.near[i].push((row.word, row.closeness));
            }
        }
        for parts in &mut corrected.parts {
            if parts.as_ref().is_some_and(|p| p.len() > MAX_PARTS) {
                *parts = None;
            }
        }
        Ok(corrected)
    }
}

/// Corrects a list request's search, when it has one (see [`Search::correct`]).
pub async fn corrected(
    search: Option<Search>,
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<Option<Corrected>, ApiError> {
    match search {
        Some(search) => Ok(Some(search.correct(conn).await?)),
        None => Ok(None),
    }
}

/// How many real words a mistyped word may stand for.
pub const MAX_CORRECTIONS: usize = 20;

/// Up to how many words containing a searched word are looked up in the full-text index; a
/// word that is part of more (`chef`, `org`) is found by trigrams in the text instead.
pub const MAX_PARTS: usize = 100;

/// What a word that starts a word of the name or title (after stemming) adds to a hit's score
/// (see [`Corrected::score`]): about half of what it adds to the full-text rank.
pub const TITLE_WORD: f64 = 0.3;

/// What a word adds to a hit's score when it is part of a word of the name or title, and
/// again when it is one of its words as written, and when it is the whole name.
pub const TITLE_PART: f64 = 0.15;

/// A [`Search`] with its words looked up ([`Search::correct`]), ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Corrected {
    search: Search,
    /// `parts[i]`: the real words that contain `search.words[i]`, or `None` when there are more
    /// than [`MAX_PARTS`] (empty for words shorter than 3 letters).
    parts: Vec<Option<Vec<String>>>,
    /// `near[i]`: the real words a typo in `search.words[i]` stands for, closest first, each
    /// with its closeness (`pg_trgm` word similarity).
    near: Vec<Vec<(String, f64)>>,
}

impl Corrected {
    /// The words searched for.
    pub fn words(&self) -> &[String] {
        &self.search.words
    }

    /// The SQL condition that a row of a table with the search columns (`search`, a weighted
    /// Swedish `tsvector`, and `search_text`, its text in lower case with a trigram index; see
    /// the migration `forgiving_search`), qualified by `alias` when given, has every word. A
    /// word matches a record when a word of the record starts with it after Swedish stemming
    /// (`skolchef` finds `Skolchefsnätverket`, `familjehem` finds `familjehemsvård`), when it is
    /// part of one of the record's words (3 letters or more: `chef` in `skolchefsnätverket`),
    /// or, from 6 letters, when the record has one of the real words the word is close to
    /// ([`Search::correct`]: one or two typos, `arbetslivet` for `Arbetsliv`). Every branch is
    /// answered from an index. Only stop words match nothing.
    ///
    /// The words are written into the SQL as literals: they hold letters and digits only, and
    /// are quoted besides.
    pub fn matches(&self, alias: &str) -> String {
        if self.search.words.is_empty() {
            return "false".to_owned();
        }
        let (search, text) = columns(alias);
        let any_of = |words: &[String]| {
            format!(
                "{search} @@ to_tsquery('swedish', {})",
                literal(&words.join(" | "))
            )
        };
        let tests: Vec<String> = self
            .search
            .words
            .iter()
            .zip(self.parts.iter().zip(&self.near))
            .map(|(word, (parts, near))| {
                let mut any = vec![any_of(&[format!("{word}:*")])];
                match parts {
                    Some(parts) if !parts.is_empty() => any.push(any_of(parts)),
                    Some(_) => {}
                    None => any.push(format!("{text} LIKE {}", literal(&format!("%{word}%")))),
                }
                if !near.is_empty() {
                    let near: Vec<String> = near.iter().map(|(w, _)| w.clone()).collect();
                    any.push(any_of(&near));
                }
                format!("({})", any.join(" OR "))
            })
            .collect();
        tests.join(" AND ")
    }

    /// The SQL relevance of a matching row (higher first): the Swedish full-text rank of the
    /// words, the words they start and the real words a typo stands for, where the name or
    /// title weighs most, then the description, then the rest; plus, for each word, what it
    /// is in the name or title (`search_title`): the start of one of its words after stemming
    /// (`familjehem` in Familjehemsnätverket; for a typo, the closest real words: `arbetslivet`
    /// in "Hållbart Arbetsliv"), a part of one of its words (`chef` in
    /// Skolchefsnätverket), one of its words as written; and once more when the name is
    /// exactly the words. So a whole word in the name ranks above a part of a word in the
    /// name, above the description. Only cheap tests: the score is computed for every hit
    /// before the best are chosen (comparing the words with the title by trigrams cost 25 ms
    /// for 5 000 hits).
    pub fn score(&self, alias: &str) -> String {
        let search = column(alias, "search");
        let title = column(alias, "search_title");
        let words = &self.search.words;
        let any: Vec<String> = words
            .iter()
            .zip(&self.near)
            .flat_map(|(w, near)| {
                [w.clone(), format!("{w}:*")]
                    .into_iter()
                    .chain(near.iter().map(|(n, _)| n.clone()))
            })
            .collect();
        let in_title: Vec<String> = words
            .iter()
            .zip(&self.near)
            .map(|(w, near)| {
                // The closest real words a typo stands for count as the word itself.
                let closest = near.first().map_or(0.0, |(_, c)| *c);
                let mut starts: Vec<String> = vec![format!("{w}:*A")];
                starts.extend(
                    near.iter()
                        .take_while(|(_, c)| *c >= closest - 1e-9)
                        .map(|(n, _)| format!("{n}:A")),
                );
                format!(
                    " + ({search} @@ to_tsquery('swedish', {}))::int * {TITLE_WORD:.2} \
                     + ({title} LIKE {})::int * {TITLE_PART:.2} \
                     + ((' ' || {title} || ' ') LIKE {})::int * {TITLE_PART:.2}",
                    literal(&starts.join(" | ")),
                    literal(&format!("%{w}%")),
                    literal(&format!("% {w} %")),
                )
            })
            .collect();
        format!(
            "(ts_rank({search}, to_tsquery('swedish', {}))::float8{} + (btrim({title}) = {})::int \
             * {TITLE_PART:.2})",
            literal(&any.join(" | ")),
            in_title.concat(),
            literal(&words.join(" ")),
        )
    }

    /// Whether hits are ordered by relevance.
    pub fn ranked(&self) -> bool {
        self.search.ranked && !self.search.words.is_empty()
    }
}

/// The search columns, qualified by a table alias when given.
fn columns(alias: &str) -> (String, String) {
    (column(alias, "search"), column(alias, "search_text"))
}

/// A column, qualified by a table alias when given.
fn column(alias: &str, name: &str) -> String {
    if alias.is_empty() {
        name.to_owned()
    } else {
        format!("{alias}.{name}")
    }
}

/// A SQL string literal (standard conforming strings: only `'` is special).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Narrows a boxed query of a table with the search columns to the rows that have every word
/// of the [`Corrected`] search (see [`Corrected::matches`]).
#[macro_export]
macro_rules! full_text {
    ($query:ident, $search:expr) => {
        if let Some(search) = $search {
            $query = $query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &search.matches(""),
            ));
        }
    };
}

/// Orders a boxed query by the relevance of its rows to a ranked [`Corrected`] search (see
/// [`Corrected::score`]), before any other sort key.
#[macro_export]
macro_rules! ranked {
    ($query:expr, $search:expr) => {{
        let query = $query;
        match $search {
            Some(search) if search.ranked() => {
                use diesel::QueryDsl;
                query.then_order_by(diesel::dsl::sql::<diesel::sql_types::Double>(&format!(
                    "{} DESC",
                    search.score("")
                )))
            }
            _ => query,
        }
    }};
}

/// Narrows a boxed query of `$table` to the rows of one pushing system (`externalSystem`) and
/// its record (`externalId`), as far as the list parameters `$p` ask.
#[macro_export]
macro_rules! external_filters {
    ($query:ident, $table:ident, $p:expr) => {
        if let Some(system) = $p.external_system.clone() {
            $query = $query.filter($table::external_system.eq(system));
        }
        if let Some(id) = $p.external_id.clone() {
            $query = $query.filter($table::external_id.eq(id));
        }
    };
}

/// Declares the JSON page type of a collection: `{ "items": [...], "_meta": {...} }`.
#[macro_export]
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            #[serde(rename = "_meta")]
            pub meta: $crate::http::list::PageMeta,
        }
    };
}

/// Declares the fields a list sorts by: the enum, its [`SortField`] names, and `order`, which
/// orders a boxed query of the table by the keys asked for (ascending or descending), so that
/// each field's name and column are written once. `with timestamps` adds `createdAt` and
/// `updatedAt` (the table's `created_at` and `updated_at`) after the fields listed.
#[macro_export]
macro_rules! sort_fields {
    ($(#[$meta:meta])* $name:ident for $table:ident with timestamps {
        $($variant:ident = $text:literal => $column:expr $(; nulls $nulls:ident)?),+ $(,)?
    }) => {
        $crate::sort_fields! {
            $(#[$meta])*
            $name for $table {
                $($variant = $text => $column $(; nulls $nulls)?,)+
                CreatedAt = "createdAt" => $table::created_at,
                UpdatedAt = "updatedAt" => $table::updated_at,
            }
        }
    };
    ($(#[$meta:meta])* $name:ident for $table:ident {
        $($variant:ident = $text:literal => $column:expr $(; nulls $nulls:ident)?),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $crate::http::list::SortField for $name {
            const ALL: &'static [(&'static str, Self)] = &[$(($text, Self::$variant)),+];
        }

        impl $name {
            /// `query` ordered by `keys`; the caller adds the tie-breaker that makes pages stable.
            pub fn order<'a>(
                mut query: $table::BoxedQuery<'a, diesel::pg::Pg>,
                keys: &[$crate::http::list::SortKey<Self>],
            ) -> $table::BoxedQuery<'a, diesel::pg::Pg> {
                #[allow(unused_imports)]
                use diesel::{ExpressionMethods, PgSortExpressionMethods, QueryDsl};
                for key in keys {
                    query = match (key.field, key.descending) {
                        $(
                            (Self::$variant, false) => query.then_order_by(
                                $crate::sort_nulls!($column.asc() $(, $nulls)?)
                            ),
                            (Self::$variant, true) => query.then_order_by(
                                $crate::sort_nulls!($column.desc() $(, $nulls)?)
                            ),
                        )+
                    };
                }
                query
            }
        }
    };
}

/// A sort expression, with `NULLS LAST` when asked for (`nulls last`).
#[doc(hidden)]
#[macro_export]
macro_rules! sort_nulls {
    ($e:expr) => {
        $e
    };
    ($e:expr, last) => {
        $e.nulls_last()
    };
}

/// Declares a list's query parameters: `limit` and `page` as every list has them, `sort` with
/// its documentation (default, example and the pattern of its keys, which a test checks against
/// the server), `externalSystem` and `externalId` for a collection systems push to
/// (`external(system = …, id = …)`, the examples), `labels` for a list that exports
/// (`exports(labels)`), and the list's own filters.
#[macro_export]
macro_rules! list_params {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(#[doc = $sort_doc:literal])+
            sort(default = $default:tt, example = $example:tt, pattern = $pattern:tt),
            $(external(system = $system:literal, id = $id:literal),)?
            $(exports($labels:ident),)?
            $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// Page size, 1–500.
            #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
            pub limit: Option<u32>,
            /// Page number, from 1.
            #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
            pub page: Option<u32>,
            $(#[doc = $sort_doc])+
            #[param(default = $default, example = $example, pattern = $pattern)]
            pub sort: Option<String>,
            $(
            /// Only the record with this external reference (with `externalId`).
            #[param(example = $system)]
            pub external_system: Option<String>,
            /// Only the record with this external id (with `externalSystem`).
            #[param(example = $id)]
            pub external_id: Option<String>,
            )?
            $(
            /// With `Accept: text/csv`: `sv` writes Swedish column headers and the values'
            /// Swedish labels (`Pågår` for `ongoing`), and such a file loads back unchanged.
            /// Other representations are unaffected.
            #[param(inline, example = "sv")]
            pub $labels: Option<$crate::rules::labels::FileLabels>,
            )?
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// Its paging and sort keys (`default` without `sort`); what is wrong with them is
            /// added to `v`.
            pub fn listing<F: $crate::http::list::SortField>(
                &self,
                v: &mut $crate::error::Violations,
                default: $crate::http::list::SortKey<F>,
            ) -> Option<$crate::http::list::Listing<F>> {
                $crate::http::list::listing(v, self.limit, self.page, self.sort.as_deref(), default)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum F {
        Name,
        UpdatedAt,
    }
    impl SortField for F {
        const ALL: &'static [(&'static str, Self)] =
            &[("name", F::Name), ("updatedAt", F::UpdatedAt)];
    }

    #[test]
    fn sort_parses_direction_and_rejects_unknown_fields() {
        let keys = sort::<F>(Some("name,-updatedAt"), &[]).expect("valid");
        assert_eq!(
            keys,
            vec![
                SortKey {
                    field: F::Name,
                    descending: false
                },
                SortKey {
                    field: F::UpdatedAt,
                    descending: true
                }
            ]
        );
        let err = sort::<F>(Some("-secret"), &[]).expect_err("unknown field");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        assert_eq!(v[0].field, "sort");
        assert!(v[0].message.contains("name, updatedAt"));
    }

    #[test]
    fn paging_bounds() {
        assert_eq!(
            paging(None, None).expect("defaults"),
            Paging { page: 1, limit: 20 }
        );
        assert!(paging(Some(501), None).is_err());
        assert!(paging(Some(0), None).is_err());
        assert!(paging(Some(500), Some(0)).is_err());
        assert_eq!(paging(Some(10), Some(3)).expect("valid").offset(), 20);
        let meta = Paging { page: 1, limit: 20 }.meta(7, 41);
        assert_eq!(meta.total_pages, 3);
    }
}
