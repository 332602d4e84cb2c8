//! One search box across the collections, `GET /v1/search`: the intranet's search. Every
//! collection with text is searched with the same rules as its own `q` ([`Corrected::matches`]),
//! ranked with the same score ([`Corrected::score`]), in one query.

use actix_web::{HttpRequest, HttpResponse, get};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{AuthErrors, CommonErrors};
use crate::http::list::{self, PageMeta};
use crate::http::search::{self as text, Corrected, Plan, Search, Sql, Words};
use crate::http::{Query, conditional_json};
use crate::store::count::{Estimate, Total, estimates, total};
use crate::store::db::Db;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum HitType {
    Area,
    Network,
    Member,
    Assignment,
    ProgressReport,
    Feedback,
    Event,
}

impl HitType {
    pub const ALL: [HitType; 7] = [
        HitType::Area,
        HitType::Network,
        HitType::Member,
        HitType::Assignment,
        HitType::ProgressReport,
        HitType::Feedback,
        HitType::Event,
    ];

    /// Its place in [`HitType::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HitType::Area => "area",
            HitType::Network => "network",
            HitType::Member => "member",
            HitType::Assignment => "assignment",
            HitType::ProgressReport => "progressReport",
            HitType::Feedback => "feedback",
            HitType::Event => "event",
        }
    }

    /// Where the type's records are: the table (alias `t`, with its search columns) and what
    /// it joins for the title, and SQL for the hit's title, text and link.
    fn source(self) -> Source {
        match self {
            HitType::Area => Source {
                table: "areas",
                join: "",
                title: "t.name",
                text: "t.description",
                link: "'/v1/areas/' || t.id",
            },
            HitType::Network => Source {
                table: "networks",
                join: "",
                title: "t.name",
                text: "t.description",
                link: "'/v1/networks/' || t.id",
            },
            HitType::Member => Source {
                table: "network_members",
                join: "JOIN networks n ON n.id = t.network_id",
                title: "t.name",
                text: "concat_ws(', ', t.title, n.name)",
                link: "'/v1/networks/' || t.network_id || '/members/' || t.id",
            },
            HitType::Assignment => Source {
                table: "assignments",
                join: "",
                title: "t.title",
                text: "t.description",
                link: "'/v1/assignments/' || t.id",
            },
            HitType::ProgressReport => Source {
                table: "progress_reports",
                join: "JOIN assignments a ON a.id = t.assignment_id",
                title: "a.title || ', tertial ' || t.tertial || ' ' || t.year",
                text: "concat_ws(' ', t.summary, t.deviation_note)",
                link: "'/v1/assignments/' || t.assignment_id || '/reports/' || t.id",
            },
            HitType::Feedback => Source {
                table: "feedback",
                join: "JOIN networks n ON n.id = t.network_id",
                title: "'Återkoppling ' || t.year || ', ' || n.name",
                text: "concat_ws(' ', t.comment, samverkan_suggestion_texts(t.suggestions))",
                link: "'/v1/feedback/' || t.id",
            },
            HitType::Event => Source {
                table: "events",
                join: "",
                title: "t.title",
                text: "concat_ws(' ', t.description, t.location)",
                link: "'/v1/events/' || t.id",
            },
        }
    }
}

impl std::str::FromStr for HitType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        HitType::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

struct Source {
    /// The table (aliased `t`, with the search columns).
    table: &'static str,
    /// What it joins for the title and text.
    join: &'static str,
    title: &'static str,
    text: &'static str,
    link: &'static str,
}

/// One record that matches the search.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "assignment", "id": "d3000000-0000-4000-8000-000000000006",
    "title": "Utveckling av Digitaliseringsguiden.se",
    "snippet": "<mark>Utveckling</mark> av <mark>Digitaliseringsguiden</mark>.se",
    "score": 1.42, "link": "/v1/assignments/d3000000-0000-4000-8000-000000000006"
}))]
pub struct SearchHit {
    /// The kind of record; `link` reads it.
    #[serde(rename = "type")]
    pub kind: HitType,
    /// The record's id.
    pub id: String,
    /// Its name or title, as plain text (for a progress report its assignment's title and the
    /// tertial; for feedback its year and network).
    pub title: String,
    /// A stretch of its title and text, HTML-escaped, with the words that matched in
    /// `<mark>…</mark>`: safe to put into a page as it is.
    pub snippet: String,
    /// Relevance: higher is better; comparable within one search only.
    pub score: f64,
    /// The record's path in this API.
    #[schema(example = "/v1/assignments/d3000000-0000-4000-8000-000000000006")]
    pub link: String,
}

/// How many records of one type match (whatever `types` says).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "assignment", "count": 3, "countIsEstimate": false}))]
pub struct SearchFacet {
    #[serde(rename = "type")]
    pub kind: HitType,
    /// Its hits: counted up to 1 000, above that PostgreSQL's estimate (`countIsEstimate`).
    pub count: i64,
    /// Whether `count` is an estimate.
    pub count_is_estimate: bool,
}

/// A page of hits, best first, with the number of hits of each type.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    /// Hits per type for this `q`, on all pages and of every type, also those `types` leaves
    /// out; types without hits are not listed.
    pub facets: Vec<SearchFacet>,
    #[serde(rename = "_meta")]
    pub meta: PageMeta,
}

/// The search, its types and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words searched for, as people type them: Swedish inflections, the start or a part of
    /// a compound word (`skolchef`), names with dots and hyphens (`Digitaliseringsguiden.se`,
    /// `ESF+`) and one or two typos in longer words are forgiven. A record matches when it has
    /// every word (stop words such as `och` are left out). At most 200 characters and 8 words.
    #[param(
        required = true,
        min_length = 1,
        max_length = 200,
        example = "kompetensförsörjning"
    )]
    pub q: Option<String>,
    /// Only hits of these types (comma-separated): `area`, `network`, `member`, `assignment`,
    /// `progressReport`, `feedback`. All of them when left out.
    #[param(
        pattern = "^(area|network|member|assignment|progressReport|feedback|event)(,(area|network|member|assignment|progressReport|feedback|event))*$",
        example = "assignment,network"
    )]
    pub types: Option<String>,
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
}

/// A row of the search's one statement: a hit of the page, or (`facet`) the count of one type
/// (what its window saw of them: [`Plan::seen`]).
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Bool)]
    facet: bool,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = Double)]
    score: f64,
    #[diesel(sql_type = Text)]
    link: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    count: Option<i64>,
}

/// The plan of each type's window (see [`text::Plan`]: `titled_{type}` and `rest_{type}`),
/// from the planner's estimate of its matches (in the order of [`HitType::ALL`]).
fn plans<'a>(k: i64, names: &'a [String], estimates: &[Estimate]) -> Vec<Plan<'a>> {
    names
        .iter()
        .zip(estimates)
        .map(|(name, estimate)| Plan::new(k, name, *estimate))
        .collect()
}

/// Each type's window of candidates.
fn windows(search: &Corrected, plans: &[Plan], words: &mut Words) -> String {
    HitType::ALL
        .iter()
        .zip(plans)
        .map(|(kind, plan)| search.window_sql(kind.source().table, plan, words))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query of every type's matches, with the words as literals (for the planner's estimates
/// and for counts), in the order of [`HitType::ALL`].
fn matches(search: &Corrected) -> Vec<String> {
    HitType::ALL
        .iter()
        .map(|kind| {
            format!(
                "SELECT t.id FROM {} t WHERE {}",
                kind.source().table,
                search.matches("t", &mut Words::Literal)
            )
        })
        .collect()
}

/// The candidates of the chosen types as one relation (`kind`, `id`, `score`): only what ranks
/// them, so that no candidate carries its text.
fn hits(search: &Corrected, chosen: &[HitType], plans: &[Plan], words: &mut Words) -> String {
    chosen
        .iter()
        .map(|kind| {
            let plan = &plans[kind.index()];
            format!(
                "SELECT '{kind}'::text AS kind, t.id, {score} AS score FROM {table} t \
                 WHERE {window}",
                kind = kind.as_str(),
                score = search.score("t", words),
                table = kind.source().table,
                window = plan.in_window("t"),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// A row per type with what its window saw of its hits ([`Plan::seen`]).
fn facets(plans: &[Plan]) -> String {
    HitType::ALL
        .iter()
        .zip(plans)
        .map(|(kind, plan)| {
            format!(
                "SELECT true, '{kind}', '', '', '', 0::float8, '', {seen}",
                kind = kind.as_str(),
                seen = plan.seen(),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The title, text and link of the hit `p` (`kind`, `id`), from its own table.
fn details() -> String {
    HitType::ALL
        .iter()
        .map(|kind| {
            let s = kind.source();
            format!(
                "SELECT {title} AS title, {text} AS text, {link} AS link FROM {table} t {join} \
                 WHERE p.kind = '{kind}' AND t.id = p.id",
                kind = kind.as_str(),
                title = s.title,
                text = s.text,
                link = s.link,
                table = s.table,
                join = s.join,
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn parse_types(types: Option<&str>) -> Result<Vec<HitType>, ApiError> {
    let Some(types) = types else {
        return Ok(HitType::ALL.to_vec());
    };
    let mut chosen = Vec::new();
    for part in types.split(',') {
        let kind: HitType = part.parse().map_err(|()| {
            ApiError::invalid(
                "types",
                format!(
                    "unknown type {:?}; types are area, network, member, assignment, \
                     progressReport, feedback, event",
                    part.chars().take(50).collect::<String>()
                ),
            )
        })?;
        if !chosen.contains(&kind) {
            chosen.push(kind);
        }
    }
    Ok(chosen)
}

/// Search everything
///
/// The intranet's one search box: areas, networks, network members (by name and title),
/// assignments, progress reports and feedback, with the same forgiving Swedish search as each
/// list's `q`. Hits are ranked by relevance (a name or title above a description above
/// comments; whole words above parts of words, above near misses), best first, and each has a
/// highlighted, HTML-escaped snippet and the link to read the record. `facets` counts the hits
/// per type, so a page can offer "Uppdrag (3) · Nätverk (1)"; `types` narrows the hits.
/// Members' contact details are never searched or shown here.
#[utoipa::path(
    operation_id = "search",
    tag = "Search",
    params(SearchParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "A page of hits, best first, and the hits per type", body = SearchPage),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/search")]
pub async fn search_everything(
    req: HttpRequest,
    db: Db,
    params: Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    let types = v.check(parse_types(p.types.as_deref()));
    let search = match v.check(Search::parse(p.q, true)) {
        Some(None) => {
            v.push("q", "is required: the words to search for");
            None
        }
        other => other.flatten(),
    };
    let ((paging, types), search) = v.finish_with(paging.zip(types).zip(search))?;
    let mut conn = db.conn().await?;
    let search = search.correct(&mut conn).await?;
    let k = text::window(&paging);
    // One statement: each type's window of candidates is found once, for the page and for
    // the counts; only the page's hits read their title and text. Its words are parameters, so
    // that it is planned once per connection, not once per search.
    if search.words().is_empty() {
        // Only small words such as `och`: nothing matches.
        let page = SearchPage {
            meta: paging.meta(0, 0),
            items: Vec::new(),
            facets: Vec::new(),
        };
        return conditional_json(&req, &page, None);
    }
    let matches = matches(&search);
    let estimates = estimates(&mut conn, &matches, k + 1).await?;
    let names: Vec<String> = HitType::ALL
        .iter()
        .map(|kind| format!("_{}", kind.as_str()))
        .collect();
    let plans = plans(k, &names, &estimates);
    let mut words = Words::bound();
    let windows = windows(&search, &plans, &mut words);
    let hits = hits(&search, &types, &plans, &mut words);
    let (limit, offset) = (
        words.bigint(i64::from(paging.limit)),
        words.bigint(paging.offset()),
    );
    let mut statement = Sql::new("WITH ");
    statement
        .append(words.cte())
        .push(&format!(
            ", {windows}, p AS (SELECT kind, id, score FROM ({hits}) h \
             ORDER BY score DESC, kind, id LIMIT {limit} OFFSET {offset}"
        ))
        .push(&format!(
            ") SELECT false AS facet, p.kind, p.id::text AS id, d.title, d.text, p.score, \
             d.link, NULL::bigint AS count \
             FROM p CROSS JOIN LATERAL ({details}) d \
             UNION ALL {facets} \
             ORDER BY facet, score DESC, kind, id",
            details = details(),
            facets = facets(&plans),
        ));
    let rows: Vec<Row> = statement.load(&mut conn).await?;
    let (counts, rows): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.facet);
    // A type whose window did not see every hit counts them up to a limit, or estimates them.
    let mut facets = Vec::new();
    for row in counts {
        let Some(i) = HitType::ALL.iter().position(|t| t.as_str() == row.kind) else {
            continue;
        };
        let (kind, estimate) = (HitType::ALL[i], estimates[i]);
        let seen = plans[i].saw(row.count);
        let count = total(&mut conn, seen, estimate, || {
            diesel::sql_query(matches[i].clone())
        })
        .await?;
        if count.records > 0 {
            facets.push((kind, count));
        }
    }
    drop(conn);
    let total = facets
        .iter()
        .filter(|(kind, _)| types.contains(kind))
        .fold(Total::exact(0), |sum, (_, count)| sum.plus(*count));
    let items: Vec<SearchHit> = rows
        .into_iter()
        .filter_map(|r| {
            Some(SearchHit {
                kind: r.kind.parse().ok()?,
                snippet: snippet(&r.title, &r.text, search.words()),
                id: r.id,
                title: r.title,
                score: (r.score * 1000.0).round() / 1000.0,
                link: r.link,
            })
        })
        .collect();
    let mut facets: Vec<SearchFacet> = facets
        .into_iter()
        .map(|(kind, count)| SearchFacet {
            kind,
            count: count.records,
            count_is_estimate: count.estimate,
        })
        .collect();
    facets.sort_by_key(|f| f.kind);
    let page = SearchPage {
        meta: paging.meta(items.len(), total),
        items,
        facets,
    };
    conditional_json(&req, &page, None)
}

/// At most this many words around the first match make a snippet.
const SNIPPET_WORDS: usize = 24;

/// A stretch of `text` (or `title` when the text has no match and the title has) around the
/// first word that matches, HTML-escaped, matching words in `<mark>`.
pub fn snippet(title: &str, text: &str, words: &[String]) -> String {
    let has_match = |tokens: &[Token]| tokens.iter().any(|t| t.matches(words));
    let blank = text.trim().is_empty();
    let (title, text) = (tokens(title), tokens(text));
    let tokens = if has_match(&text) || (!has_match(&title) && !blank) {
        text
    } else {
        title
    };
    // The token index of each word (tokens alternate between words and what lies between).
    let word_at: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.word)
        .map(|(i, _)| i)
        .collect();
    let first = word_at
        .iter()
        .position(|&i| tokens[i].matches(words))
        .unwrap_or(0);
    let from_word = first.saturating_sub(SNIPPET_WORDS / 3);
    let from = if from_word == 0 {
        0
    } else {
        word_at[from_word]
    };
    let to = word_at
        .get(from_word + SNIPPET_WORDS)
        .copied()
        .unwrap_or(tokens.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    for token in &tokens[from..to] {
        if token.word && token.matches(words) {
            out.push_str("<mark>");
            crate::http::escape_html_into(&mut out, token.text);
            out.push_str("</mark>");
        } else {
            crate::http::escape_html_into(&mut out, token.text);
        }
    }
    if to < tokens.len() {
        out.push('…');
    }
    out
}

struct Token<'a> {
    text: &'a str,
    word: bool,
}

impl Token<'_> {
    /// Whether a searched word matches this word of the text, by the rules of
    /// [`Corrected::matches`] as far as they can be seen in one word: it starts with the searched
    /// word, holds it (3 letters or more) or, from 6 letters, is close to it.
    fn matches(&self, words: &[String]) -> bool {
        if !self.word {
            return false;
        }
        let lower = self.text.to_lowercase();
        let folded = text::fold(&lower);
        words.iter().any(|w| {
            let letters = w.chars().count();
            // A word typed without accents matches the text without them.
            let lower = if text::fold(w) == *w { &folded } else { &lower };
            lower.starts_with(w.as_str())
                || (letters >= 3 && lower.contains(w.as_str()))
                || (letters >= 6 && word_similarity(w, lower) >= text::TYPO_SIMILARITY)
                || (letters >= 6 && shares_stem(w, lower))
        })
    }
}

/// Whether two words share all but their last few letters (an inflection: `utanförskapet`,
/// `utanförskap`).
fn shares_stem(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    common >= 5 && common + 3 >= a.chars().count()
}

/// The text split into words (letters and digits) and what lies between them.
fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = 0;
    let mut in_word = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric();
        match in_word {
            Some(w) if w == word => {}
            Some(w) => {
                tokens.push(Token {
                    text: &text[start..i],
                    word: w,
                });
                start = i;
                in_word = Some(word);
            }
            None => in_word = Some(word),
        }
    }
    if let Some(w) = in_word {
        tokens.push(Token {
            text: &text[start..],
            word: w,
        });
    }
    tokens
}

/// `pg_trgm`'s similarity of two words: shared trigrams (of the words padded with two spaces
/// in front and one behind) over all trigrams.
fn word_similarity(a: &str, b: &str) -> f64 {
    let grams = |w: &str| {
        let chars: Vec<char> = format!("  {w} ").chars().collect();
        let mut set: Vec<[char; 3]> = chars.windows(3).map(|g| [g[0], g[1], g[2]]).collect();
        set.sort_unstable();
        set.dedup();
        set
    };
    let (a, b) = (grams(a), grams(b));
    let shared = a.iter().filter(|g| b.contains(g)).count();
    let all = a.len() + b.len() - shared;
    if all == 0 {
        0.0
    } else {
        shared as f64 / all as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_snippet_marks_the_words_that_matched_and_escapes_the_rest() {
        let s = snippet(
            "Utveckling av Digitaliseringsguiden.se",
            "",
            &words(&["digitaliseringsguiden"]),
        );
        assert_eq!(s, "Utveckling av <mark>Digitaliseringsguiden</mark>.se");
        let s = snippet(
            "A <b> & B",
            "Skolchefsnätverket <script>",
            &words(&["skolchef"]),
        );
        assert_eq!(s, "<mark>Skolchefsnätverket</mark> &lt;script&gt;");
    }

    #[test]
    fn a_snippet_marks_parts_of_compounds_inflections_and_typos() {
        let w = words(&["suicid", "utanförskapet", "digitalsering"]);
        let s = snippet(
            "",
            "suicidprevention, digitalt utanförskap, digitalisering",
            &w,
        );
        assert_eq!(
            s,
            "<mark>suicidprevention</mark>, digitalt <mark>utanförskap</mark>, \
             <mark>digitalisering</mark>"
        );
    }

    #[test]
    fn a_word_typed_without_accents_is_marked_in_the_text_with_them() {
        let s = snippet("Maja Öberg", "", &words(&["maja", "oberg"]));
        assert_eq!(s, "<mark>Maja</mark> <mark>Öberg</mark>");
        let s = snippet("Vård- och Omsorgscollege", "", &words(&["vård"]));
        assert_eq!(s, "<mark>Vård</mark>- och Omsorgscollege");
        let s = snippet("Vardagsliv", "", &words(&["vård"]));
        assert_eq!(s, "Vardagsliv", "a word typed with accents keeps them");
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = (1..=100)
            .map(|i| format!("ord{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let s = snippet("", &text, &words(&["ord50"]));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>ord50</mark>"), "{s}");
        assert!(s.contains("ord42") && !s.contains("ord41 "), "{s}");
    }

    #[test]
    fn a_type_knows_its_place_among_all() {
        for (i, kind) in HitType::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
    }

    #[test]
    fn types_are_named_and_unknown_ones_refused() {
        assert_eq!(
            parse_types(Some("assignment,network,assignment")).ok(),
            Some(vec![HitType::Assignment, HitType::Network])
        );
        assert!(parse_types(Some("assignments")).is_err());
        assert_eq!(parse_types(None).ok(), Some(HitType::ALL.to_vec()));
    }
}
