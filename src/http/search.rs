//! Free-text search of the lists (`q`) and of `GET /v1/search`: the words of a search, their
//! lookup in `search_words` (parts of compound words, corrections of typos), the SQL that
//! matches and scores a record, and the bounded window of candidates that a ranked page is
//! chosen from.

use crate::error::ApiError;
use crate::http::list::search_text;
use crate::store::count::{EXACT_UP_TO, Estimate};

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
    /// - a word typed without its å, ä or ö (`vard`, `oberg`) stands for the words that differ
    ///   from it only in those letters (`vård`, `Öberg`), as the closest corrections there are;
    /// - a word of 6 letters or more that no record has, whole or as a part of a word, is taken
    ///   for a typo: it stands for the closest [`MAX_CORRECTIONS`] words with a `pg_trgm` word
    ///   similarity of at least [`TYPO_SIMILARITY`], compared without accents
    ///   (`etjanster` for `tjänster`). A word that some record has stands only
    ///   for the close words that differ from it in the last 30 % of their letters, its other
    ///   forms (`rekrytering` for `rekrytera`), where the Swedish stemmer leaves them apart:
    ///   `digitaliseringsnätverket` does not also find `digitaliseringsforumet`. Words that start
    ///   with the word are left out: its prefix finds them already.
    pub async fn correct(
        self,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<Corrected, ApiError> {
        use diesel::sql_types::{Bool, Double, Integer, Text};
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
        // Its text is the same for every search, and the words are out of the planner's
        // sight (in `a`), so that its one plan is as good as any: planned once per connection.
        let mut lookup = Sql::new("WITH a AS MATERIALIZED (SELECT ");
        lookup.push_texts(&corrected.search.words).push(&format!(
            "::text[] AS words), \
             w AS (SELECT word, i, samverkan_fold(word) AS folded \
                   FROM unnest((SELECT words FROM a)) WITH ORDINALITY AS w(word, i) \
                   WHERE length(word) >= 3), \
             p AS MATERIALIZED (SELECT w.i, s.word, count(*) OVER (PARTITION BY w.i) AS n \
                   FROM w JOIN search_words s ON s.word LIKE '%' || w.word || '%') \
             SELECT i::int4 AS i, word, true AS part, 1::float8 AS closeness FROM p \
                   WHERE n <= {MAX_PARTS} \
             UNION ALL \
             SELECT DISTINCT i::int4, '', true, 0::float8 FROM p WHERE n > {MAX_PARTS} \
             UNION ALL \
             SELECT w.i::int4, s.word, false, 1::float8 FROM w \
                   JOIN search_words s ON s.folded = w.folded AND s.word <> w.word \
                   WHERE w.word = w.folded \
             UNION ALL \
             SELECT w.i::int4, c.word, false, 1 - c.distance FROM w CROSS JOIN LATERAL \
                   (SELECT s.word, w.folded <<-> s.folded AS distance FROM search_words s \
                    WHERE w.folded <% s.folded AND s.folded <> w.folded \
                    AND NOT starts_with(s.word, w.word) \
                    AND (NOT EXISTS (SELECT FROM p WHERE p.i = w.i) \
                         OR left(s.folded, {keep}) = left(w.folded, {keep})) \
                    ORDER BY 2, s.word LIMIT {MAX_CORRECTIONS}) c \
             WHERE length(w.word) >= 6",
            keep = "ceil(length(w.word) * 0.7)::int",
        ));
        let rows: Vec<Found> = lookup.load(conn).await?;
        for row in rows {
            let Some(i) = usize::try_from(row.i - 1).ok().filter(|i| *i < n) else {
                continue;
            };
            // An empty part: the word is part of more than `MAX_PARTS` words.
            if row.part && row.word.is_empty() {
                corrected.parts[i] = None;
                continue;
            }
            // The table's words are a text's letters and digits; anything else is skipped, so
            // that a word is always a plain word inside a `tsquery`.
            if row.word.is_empty() || !row.word.chars().all(char::is_alphanumeric) {
                continue;
            }
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
        // Closest first: a word without its accents stands first for the accented words.
        for near in &mut corrected.near {
            near.sort_by(|a, b| b.1.total_cmp(&a.1));
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
    /// answered from an index. Only stop words match nothing. The words are written as `words`
    /// says ([`Words`]).
    pub fn matches(&self, alias: &str, words: &mut Words) -> String {
        self.condition(alias, Indexed::Yes, words)
    }

    /// The same condition as [`Corrected::matches`], written so that PostgreSQL tests it on
    /// rows another index found instead of building its own bitmap of every match (a function
    /// call and `strpos` in place of the operators an index answers).
    pub fn matches_filter(&self, alias: &str, words: &mut Words) -> String {
        self.condition(alias, Indexed::No, words)
    }

    fn condition(&self, alias: &str, indexed: Indexed, words: &mut Words) -> String {
        if self.search.words.is_empty() {
            return "false".to_owned();
        }
        let (search, text) = columns(alias);
        let vector_matches = |query: &str, words: &mut Words| {
            let query = words.query(query);
            match indexed {
                Indexed::Yes => format!("{search} @@ {query}"),
                Indexed::No => format!("ts_match_vq({search}, {query})"),
            }
        };
        let contains = |word: &str, words: &mut Words| match indexed {
            Indexed::Yes => format!("{text} LIKE {}", words.text(&format!("%{word}%"))),
            Indexed::No => format!("strpos({text}, {}) > 0", words.text(word)),
        };
        // The words found in the full-text index alone are one query (`&`), which GIN answers
        // in one scan; a word that is part of too many words also has a trigram test.
        let in_index: Vec<String> = (0..self.search.words.len())
            .filter(|i| self.parts[*i].is_some())
            .map(|i| format!("({})", self.alternatives(i)))
            .collect();
        let mut tests = Vec::new();
        if !in_index.is_empty() {
            tests.push(vector_matches(&in_index.join(" & "), words));
        }
        for (i, word) in self.search.words.iter().enumerate() {
            if self.parts[i].is_none() {
                let vector = vector_matches(&self.alternatives(i), words);
                tests.push(format!("({vector} OR {})", contains(word, words)));
            }
        }
        tests.join(" AND ")
    }

    /// What word `i` may be in a record, as alternatives of a `tsquery`: the start of a word
    /// after stemming, the words that contain it and the words a typo in it stands for.
    fn alternatives(&self, i: usize) -> String {
        let word = &self.search.words[i];
        let mut any = vec![format!("{word}:*")];
        if let Some(parts) = &self.parts[i] {
            any.extend(parts.iter().cloned());
        }
        any.extend(self.near[i].iter().map(|(w, _)| w.clone()));
        any.join(" | ")
    }

    /// The SQL condition that the name or title of a row (its `search_title`, through the
    /// index on `to_tsvector('swedish', search_title)`; migration `ranked_window`) has one of
    /// the words, by the rules of [`Corrected::matches`] (a word found by trigrams only by its
    /// start). Only with [`Corrected::matches_filter`] does such a row match every word.
    pub fn title_has_any(&self, alias: &str, words: &mut Words) -> String {
        let any: Vec<String> = (0..self.search.words.len())
            .map(|i| self.alternatives(i))
            .collect();
        self.title_matches(alias, &any.join(" | "), words)
    }

    /// The SQL condition that every word is a whole word of the name or title after stemming
    /// (for a typo, one of the closest real words): the best hits there are. Such a row
    /// matches the search.
    pub fn title_has_every(&self, alias: &str, words: &mut Words) -> String {
        let every: Vec<String> = self
            .search
            .words
            .iter()
            .zip(&self.near)
            .map(|(w, near)| {
                let mut any = vec![w.clone()];
                any.extend(closest(near).map(|(n, _)| n.clone()));
                format!("({})", any.join(" | "))
            })
            .collect();
        self.title_matches(alias, &every.join(" & "), words)
    }

    fn title_matches(&self, alias: &str, query: &str, words: &mut Words) -> String {
        if self.search.words.is_empty() {
            return "false".to_owned();
        }
        format!(
            "to_tsvector('swedish'::regconfig, {}) @@ {}",
            column(alias, "search_title"),
            words.query(query)
        )
    }

    /// The SQL relevance of a matching row (higher first): the Swedish full-text rank of the
    /// words, the words they start and the real words a typo stands for, where the name or
    /// title weighs most, then the description, then the rest; plus, for each word, what it
    /// is in the name or title (`search_title`): the start of one of its words after stemming
    /// (`familjehem` in Familjehemsnätverket; for a typo, the closest real words: `arbetslivet`
    /// in "Hållbart Arbetsliv"), a part of one of its words (`chef` in
    /// Skolchefsnätverket), one of its words as written; and once more when the name is
    /// exactly the words. So a whole word in the name ranks above a part of a word in the
    /// name, above the description. Only cheap tests: an export scores every hit.
    pub fn score(&self, alias: &str, words: &mut Words) -> String {
        let search = column(alias, "search");
        let title = column(alias, "search_title");
        let searched = &self.search.words;
        let any: Vec<String> = searched
            .iter()
            .zip(&self.near)
            .flat_map(|(w, near)| {
                [w.clone(), format!("{w}:*")]
                    .into_iter()
                    .chain(near.iter().map(|(n, _)| n.clone()))
            })
            .collect();
        let mut score = format!(
            "(ts_rank({search}, {})::float8",
            words.query(&any.join(" | "))
        );
        for (w, near) in searched.iter().zip(&self.near) {
            // The closest real words a typo stands for count as the word itself.
            let mut starts: Vec<String> = vec![format!("{w}:*A")];
            starts.extend(closest(near).map(|(n, _)| format!("{n}:A")));
            score.push_str(&format!(
                " + ({search} @@ {})::int * {TITLE_WORD:.2} \
                 + ({title} LIKE {})::int * {TITLE_PART:.2} \
                 + ((' ' || {title} || ' ') LIKE {})::int * {TITLE_PART:.2}",
                words.query(&starts.join(" | ")),
                words.text(&format!("%{w}%")),
                words.text(&format!("% {w} %")),
            ));
        }
        score.push_str(&format!(
            " + (btrim({title}) = {})::int * {TITLE_PART:.2})",
            words.text(&searched.join(" "))
        ));
        score
    }

    /// Whether hits are ordered by relevance.
    pub fn ranked(&self) -> bool {
        self.search.ranked && !self.search.words.is_empty()
    }
}

/// How the words of a search are written into SQL. `Literal`: as string literals, for a
/// statement PostgreSQL plans for these words (an export, a count, an estimate, which uses the
/// words' statistics). `Bound`: as the columns `q0`, `q1`, … of the common table expression
/// `q` ([`Words::cte`]), whose values are bound parameters: the statement's text then depends
/// only on the search's shape (how many words, which found by trigrams), so PostgreSQL
/// prepares and plans it once per connection instead of once per request (planning the search
/// box's statement took longer than running it). Every value that changes between requests must
/// be in `q`, the page's `LIMIT` and `OFFSET` too ([`Words::bigint`]): PostgreSQL reuses a
/// prepared statement's generic plan only when a plan for the values at hand would not be
/// cheaper, and it cannot see the values of `q` when planning either.
#[derive(Debug)]
pub enum Words {
    Literal,
    Bound(Vec<Constant>),
}

/// A value of the common table expression `q` (see [`Words`]).
#[derive(Debug, Clone)]
pub enum Constant {
    /// A `tsquery` (`to_tsquery('swedish', …)` of this text).
    Query(String),
    Text(String),
    BigInt(i64),
}

impl Words {
    /// Words bound as parameters.
    pub fn bound() -> Self {
        Words::Bound(Vec::new())
    }

    /// A `tsquery` of `text` (`to_tsquery('swedish', …)`).
    fn query(&mut self, text: &str) -> String {
        match self {
            Words::Literal => format!("to_tsquery('swedish', {})", literal(text)),
            Words::Bound(values) => {
                values.push(Constant::Query(text.to_owned()));
                format!("(SELECT q{} FROM q)", values.len() - 1)
            }
        }
    }

    /// A text (a `LIKE` pattern, a name).
    fn text(&mut self, text: &str) -> String {
        match self {
            Words::Literal => literal(text),
            Words::Bound(values) => {
                values.push(Constant::Text(text.to_owned()));
                format!("(SELECT q{} FROM q)", values.len() - 1)
            }
        }
    }

    /// A number (a page's `LIMIT` and `OFFSET`: in `q`, they leave the plan as it is).
    pub fn bigint(&mut self, value: i64) -> String {
        match self {
            Words::Literal => value.to_string(),
            Words::Bound(values) => {
                values.push(Constant::BigInt(value));
                format!("(SELECT q{} FROM q)", values.len() - 1)
            }
        }
    }

    /// The common table expression `q` of bound words, as a part of a statement:
    /// `q AS MATERIALIZED (SELECT to_tsquery('swedish', $1) AS q0, …)`.
    pub fn cte(&self) -> Sql {
        let mut sql = Sql::new("q AS MATERIALIZED (SELECT ");
        let values: &[Constant] = match self {
            Words::Literal => &[],
            Words::Bound(values) => values,
        };
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            match value {
                Constant::Query(text) => {
                    sql.push("to_tsquery('swedish', ");
                    sql.push_text(text);
                    sql.push(")");
                }
                Constant::Text(text) => {
                    sql.push_text(text);
                    sql.push("::text");
                }
                Constant::BigInt(value) => {
                    sql.push_bigint(*value);
                    sql.push("::bigint");
                }
            }
            sql.push(&format!(" AS q{i}"));
        }
        if values.is_empty() {
            sql.push("1 AS none");
        }
        sql.push(")");
        sql
    }
}

/// A statement, or a part of one, as SQL text and bound parameters in order: unlike
/// `diesel::sql_query`, PostgreSQL prepares it once per connection (diesel caches it by its
/// text), so write every value that changes between requests as a parameter.
#[derive(Debug, Default)]
pub struct Sql(Vec<Piece>);

#[derive(Debug)]
enum Piece {
    Sql(String),
    Text(String),
    Texts(Vec<String>),
    BigInt(i64),
}

impl Sql {
    pub fn new(sql: &str) -> Self {
        Sql(vec![Piece::Sql(sql.to_owned())])
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.0.push(Piece::Sql(sql.to_owned()));
        self
    }

    pub fn push_text(&mut self, value: &str) -> &mut Self {
        self.0.push(Piece::Text(value.to_owned()));
        self
    }

    pub fn push_texts(&mut self, values: &[String]) -> &mut Self {
        self.0.push(Piece::Texts(values.to_vec()));
        self
    }

    pub fn push_bigint(&mut self, value: i64) -> &mut Self {
        self.0.push(Piece::BigInt(value));
        self
    }

    pub fn append(&mut self, other: Sql) -> &mut Self {
        self.0.extend(other.0);
        self
    }
}

/// SQL that this crate wrote, without a request's values (those are bound: see [`Words`]), as a
/// diesel expression of type `ST` for a boxed query's filter, order or selection. Unlike
/// `diesel::dsl::sql`, it lets diesel prepare the statement once per connection and reuse it,
/// which is safe because its text never carries a value from a request.
#[derive(Debug, Clone)]
pub struct Raw<ST>(String, std::marker::PhantomData<ST>);

impl<ST> Raw<ST> {
    pub fn new(sql: impl Into<String>) -> Self {
        Raw(sql.into(), std::marker::PhantomData)
    }
}

impl<ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType> diesel::Expression
    for Raw<ST>
{
    type SqlType = ST;
}

impl<ST> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Raw<ST> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(&self.0);
        Ok(())
    }
}

impl<ST> diesel::query_builder::QueryId for Raw<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> diesel::AppearsOnTable<QS> for Raw<ST> where Self: diesel::Expression {}

impl<ST, QS> diesel::SelectableExpression<QS> for Raw<ST> where Self: diesel::AppearsOnTable<QS> {}

impl<ST, GB> diesel::expression::ValidGrouping<GB> for Raw<ST> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Sql {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        for piece in &self.0 {
            match piece {
                Piece::Sql(sql) => out.push_sql(sql),
                Piece::Text(value) => out.push_bind_param::<diesel::sql_types::Text, _>(value)?,
                Piece::Texts(values) => out
                    .push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(
                        values,
                    )?,
                Piece::BigInt(value) => {
                    out.push_bind_param::<diesel::sql_types::BigInt, _>(value)?
                }
            }
        }
        Ok(())
    }
}

impl diesel::query_builder::Query for Sql {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryId for Sql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// A lower-case word without its accents (`öberg` → `oberg`), as `samverkan_fold` folds the
/// words of `search_words` (migration `search_words_folded`).
pub fn fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'å' | 'ä' | 'à' | 'á' | 'â' => 'a',
            'ö' | 'ó' | 'ò' | 'ô' => 'o',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ü' | 'ú' | 'ù' => 'u',
            'í' | 'ì' | 'ï' => 'i',
            'ç' => 'c',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

/// Whether a condition is written for an index to answer or for rows found otherwise.
#[derive(Clone, Copy)]
enum Indexed {
    Yes,
    No,
}

/// The closest of the real words a typo stands for: every one as close as the first.
fn closest(near: &[(String, f64)]) -> impl Iterator<Item = &(String, f64)> {
    let best = near.first().map_or(0.0, |(_, c)| *c);
    near.iter().take_while(move |(_, c)| *c >= best - 1e-9)
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

/// A ranked page is chosen from a window of candidates, never from every hit, so that a search
/// costs about the same whether it has ten hits or a hundred thousand (scoring and counting every
/// hit took 5 µs a hit: a quarter of a second for `familjehem` in 100 000 assignments). The
/// window holds up to `K` records that have every word as a whole word of their name or title,
/// up to `K` that have one of the words there (both found in the index of the names alone), and,
/// only when those are fewer than `K`, up to `K` records with the words anywhere, in the order
/// the table's full-text index finds them. The name or title weighs more in the score than
/// anything else ([`Corrected::score`]), so the best hits are in the window. `K` is this for the
/// pages within the first hundred hits, ten times as many for those within the first thousand,
/// and so on ([`window`]): the pages within one such stretch never repeat or skip a hit; a page
/// past its end may (a walk through every hit sorts them with `sort`, or exports them). Exports
/// rank every hit.
pub const RANK_WINDOW: i64 = 100;

/// The size `K` of the window a ranked page is chosen from (see [`RANK_WINDOW`]): the first of
/// 100, 1 000, 10 000, … that holds the page.
pub fn window(paging: &crate::http::list::Paging) -> i64 {
    let end = paging.offset() + i64::from(paging.limit);
    let mut k = RANK_WINDOW;
    while k < end {
        k = k.saturating_mul(10);
    }
    k
}

/// The statement of a ranked page of one table: the bound words (`q`, [`Words::cte`]), its
/// window (`titled`, the candidates with the words in their name; `rest`, the others) as
/// materialised common table expressions, then `page`, a query of the table narrowed to the
/// window by [`Plan::in_window`] and ordered by [`Corrected::score`]. `titled` are the two
/// queries of the table's ids narrowed by [`Corrected::title_has_every`] and
/// [`Corrected::title_has_any`], each limited to `K`; `rest` the query narrowed by
/// [`Plan::rest_condition`], limited to [`Plan::rest_limit`].
pub struct Window<T, P> {
    /// The words of the conditions and the score: [`Words::cte`] of the bound words, built
    /// after everything else (which binds them).
    pub words: Sql,
    /// The window's size `K` ([`window`]).
    pub k: i64,
    /// The two queries of `titled`, without `LIMIT`.
    pub titled: [T; 2],
    /// The query of `rest`, without `LIMIT`.
    pub rest: T,
    /// Its `LIMIT` ([`Plan::rest_limit`]).
    pub rest_limit: i64,
    /// The page, without `LIMIT` and `OFFSET`.
    pub page: P,
    /// Its `LIMIT` and `OFFSET`, as values of `q` ([`Words::bigint`]).
    pub limit: String,
    pub offset: String,
}

impl<T, P> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Window<T, P>
where
    T: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
    P: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        // The limits are literals: `K` takes a few values only, and a literal leaves the
        // statement's generic plan as good as one for the values at hand.
        let k = self.k;
        out.push_sql("WITH ");
        self.words.walk_ast(out.reborrow())?;
        out.push_sql(", titled AS MATERIALIZED ((");
        self.titled[0].walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {k}) UNION ("));
        self.titled[1].walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {k})), rest AS MATERIALIZED ("));
        self.rest.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}) ", self.rest_limit));
        self.page.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {} OFFSET {}", self.limit, self.offset));
        Ok(())
    }
}

impl<T, P: diesel::query_builder::Query> diesel::query_builder::Query for Window<T, P> {
    type SqlType = P::SqlType;
}

impl<T, P> diesel::query_builder::QueryId for Window<T, P> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// How one table's window is read (see [`RANK_WINDOW`]): its size `K`, the suffix of its
/// common table expressions' names (`titled{name}`, `rest{name}`), and what PostgreSQL's
/// [`Estimate`] of the table's matches says.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub k: i64,
    pub name: &'a str,
    /// PostgreSQL finds the first matches quicker by reading the table in order (the words are
    /// common): `rest` is then written so, and reads only the window and one more.
    scan: bool,
    /// The hits are about to be counted (at most twice [`EXACT_UP_TO`], listed by an index):
    /// `rest` runs whatever `titled` found, and counts them up to `EXACT_UP_TO` as it reads.
    counting: bool,
}

impl<'a> Plan<'a> {
    pub fn new(k: i64, name: &'a str, estimate: Estimate) -> Self {
        Plan {
            k,
            name,
            scan: estimate.scan,
            counting: !estimate.scan && estimate.rows <= 2 * EXACT_UP_TO,
        }
    }

    /// How many matches `rest` reads at most: the window and one more, to tell whether it saw
    /// every hit, or, when an index lists the matches anyway, enough to count them exactly up
    /// to [`EXACT_UP_TO`] (about a millisecond: less than counting them again).
    pub fn rest_limit(&self) -> i64 {
        if self.scan {
            self.k + 1
        } else {
            self.k.max(EXACT_UP_TO) + 1
        }
    }

    /// The condition of `rest`: [`Corrected::matches`], or, when PostgreSQL finds the first
    /// matches quicker by reading the table in order, [`Corrected::matches_filter`], which it
    /// cannot answer from an index (a statement planned once must be told); and that it is
    /// needed: the records whose names have the words are fewer than `K` (else PostgreSQL does
    /// not run it at all), or the hits are being counted.
    pub fn rest_condition(&self, search: &Corrected, alias: &str, words: &mut Words) -> String {
        let matches = if self.scan {
            search.matches_filter(alias, words)
        } else {
            search.matches(alias, words)
        };
        if self.counting {
            matches
        } else {
            format!(
                "{matches} AND (SELECT count(*) FROM titled{}) < {}",
                self.name, self.k
            )
        }
    }

    /// The condition that a row of `table` is in the window: in `titled`, or among the first
    /// `K` of `rest` when `titled` has fewer than `K`.
    pub fn in_window(&self, table: &str) -> String {
        let (k, name) = (self.k, self.name);
        format!(
            "{table}.id IN (SELECT id FROM titled{name} UNION ALL \
             (SELECT id FROM rest{name} WHERE (SELECT count(*) FROM titled{name}) < {k} LIMIT {k}))"
        )
    }

    /// The rows `rest` read (at most [`Plan::rest_limit`]) when it ran, else NULL: what the
    /// statement saw of the hits ([`Seen::of`](crate::store::count::Seen::of)).
    pub fn seen(&self) -> String {
        let (k, name) = (self.k, self.name);
        if self.counting {
            format!("(SELECT count(*) FROM rest{name})")
        } else {
            format!(
                "(SELECT CASE WHEN (SELECT count(*) FROM titled{name}) < {k} \
                 THEN (SELECT count(*) FROM rest{name}) END)"
            )
        }
    }

    /// What the statement's `seen` column says of the hits.
    pub fn saw(&self, rows: Option<i64>) -> crate::store::count::Seen {
        crate::store::count::Seen::of(rows, self.rest_limit())
    }
}

impl Corrected {
    /// A [`Window`]'s two common table expressions over `table` (aliased `t`) in SQL, as
    /// `plan` says, for a search with no other filter.
    pub fn window_sql(&self, table: &str, plan: &Plan, words: &mut Words) -> String {
        format!(
            "titled{name} AS MATERIALIZED ((SELECT t.id FROM {table} t WHERE {every} LIMIT {k}) \
             UNION (SELECT t.id FROM {table} t WHERE {any} AND {filter} LIMIT {k})), \
             rest{name} AS MATERIALIZED (SELECT t.id FROM {table} t WHERE {rest} LIMIT {limit})",
            name = plan.name,
            k = plan.k,
            every = self.title_has_every("t", words),
            any = self.title_has_any("t", words),
            filter = self.matches_filter("t", words),
            rest = plan.rest_condition(self, "t", words),
            limit = plan.rest_limit(),
        )
    }
}

/// Narrows a boxed query of a table with the search columns to the rows that have every word
/// of the [`Corrected`] search (see [`Corrected::matches`]).
#[macro_export]
macro_rules! full_text {
    ($query:ident, $search:expr) => {
        if let Some(search) = $search {
            // A literal search: never prepared for reuse (its text holds the words).
            $query = $query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &search.matches("", &mut $crate::http::search::Words::Literal),
            ));
        }
    };
}

/// Orders a boxed query by the relevance of its rows to a ranked [`Corrected`] search (see
/// [`Corrected::score`]), before any other sort key; `$words` writes the words
/// ([`Words::Literal`] unless the statement has the common table expression of bound words).
#[macro_export]
macro_rules! ranked {
    ($query:expr, $search:expr, $words:expr) => {{
        let query = $query;
        match $search {
            Some(search) if search.ranked() => {
                use diesel::QueryDsl;
                let words: &mut $crate::http::search::Words = $words;
                let score = format!("{} DESC", search.score("", words));
                match words {
                    // Bound words: the statement may be prepared once and reused.
                    $crate::http::search::Words::Bound(_) => query.then_order_by(
                        $crate::http::search::Raw::<diesel::sql_types::Double>::new(score),
                    ),
                    $crate::http::search::Words::Literal => {
                        query.then_order_by(diesel::dsl::sql::<diesel::sql_types::Double>(&score))
                    }
                }
            }
            _ => query,
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::list::Paging;

    #[test]
    fn the_window_grows_tenfold_to_hold_the_page() {
        let k = |page, limit| window(&Paging { page, limit });
        assert_eq!(k(1, 20), 100);
        assert_eq!(k(5, 20), 100);
        assert_eq!(k(6, 20), 1000);
        assert_eq!(k(2, 500), 1000);
        assert_eq!(k(3, 500), 10_000);
        assert_eq!(k(1_000_000, 500), 1_000_000_000);
    }
}
