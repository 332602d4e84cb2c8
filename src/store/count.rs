//! Counting the matches of a list or a search: exactly up to [`EXACT_UP_TO`], and above that
//! PostgreSQL's estimate, so that a list or search with a hundred thousand rows does not read
//! them all to say how many there are (PostgREST's `count=estimated` works the same way).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::ApiError;

/// Matches are counted exactly up to this many; beyond, the total is PostgreSQL's estimate.
pub const EXACT_UP_TO: i64 = 1000;

/// A full list page is counted only when PostgreSQL expects at most this many matches: where
/// it expects more, the count would almost surely pass [`EXACT_UP_TO`] and only cost a read of
/// a thousand index entries (more than the page itself) to learn so.
pub const COUNTED_UP_TO: i64 = 10 * EXACT_UP_TO;

/// The number of records a list or search matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub records: i64,
    /// `records` is PostgreSQL's estimate (at least [`EXACT_UP_TO`] + 1), not a count.
    pub estimate: bool,
}

impl Total {
    pub fn exact(records: i64) -> Self {
        Self {
            records,
            estimate: false,
        }
    }

    pub fn estimated(records: i64) -> Self {
        Self {
            records,
            estimate: true,
        }
    }

    /// Two totals added (a search's types), an estimate if either is.
    pub fn plus(self, other: Total) -> Total {
        Total {
            records: self.records + other.records,
            estimate: self.estimate || other.estimate,
        }
    }
}

/// What a statement that read the first matches of a query saw of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Every match: there are this many.
    All(i64),
    /// It stopped after this many: there are more.
    More(i64),
    /// None of them (it did not read the matches).
    Nothing,
}

impl Seen {
    /// What reading at most `limit` rows and finding `rows` says (`None`: not read).
    pub fn of(rows: Option<i64>, limit: i64) -> Seen {
        match rows {
            Some(n) if n < limit => Seen::All(n),
            Some(n) => Seen::More(n),
            None => Seen::Nothing,
        }
    }
}

/// What PostgreSQL expects of a query's matches, from its plan (`EXPLAIN`, nothing is run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// How many rows the query returns.
    pub rows: i64,
    /// Whether PostgreSQL would find the first few by reading the table in order and testing
    /// each row (the matches are so many that this is quicker than an index's list of all of
    /// them): then a statement that needs only the first few should do the same.
    pub scan: bool,
}

/// The rows `query` (a query without `LIMIT`) returns, from what was `seen` of them and the
/// planner's `estimate`: exact when all were seen or there are at most [`EXACT_UP_TO`], else
/// the estimate (never below what was seen, nor below `EXACT_UP_TO` + 1). A count runs only when
/// the estimate is below twice the limit and no more than the limit were seen already, so that
/// a search with many hits never reads them to count them.
pub async fn total<Q, F>(
    conn: &mut AsyncPgConnection,
    seen: Seen,
    estimate: Estimate,
    query: F,
) -> Result<Total, ApiError>
where
    F: Fn() -> Q,
    Q: QueryFragment<Pg> + Send + 'static,
{
    let at_least = match seen {
        Seen::All(n) => return Ok(Total::exact(n)),
        Seen::More(n) => n,
        Seen::Nothing => 0,
    };
    if at_least <= EXACT_UP_TO
        && estimate.rows <= 2 * EXACT_UP_TO
        && let Some(n) = counted(conn, query()).await?
    {
        return Ok(Total::exact(n));
    }
    Ok(beyond(estimate, at_least))
}

/// The rows of `query` if there are at most [`EXACT_UP_TO`] (it reads one more at most).
async fn counted<Q>(conn: &mut AsyncPgConnection, query: Q) -> Result<Option<i64>, ApiError>
where
    Q: QueryFragment<Pg> + Send + 'static,
{
    let n: i64 = Capped(query, EXACT_UP_TO + 1).get_result(conn).await?;
    Ok((n <= EXACT_UP_TO).then_some(n))
}

/// A total above [`EXACT_UP_TO`]: the planner's estimate, never below what was seen.
fn beyond(estimate: Estimate, at_least: i64) -> Total {
    Total::estimated(estimate.rows.max(at_least).max(EXACT_UP_TO + 1))
}

/// The total of a list's page that read `rows` rows at `offset` (asking for `limit`) of
/// `query` (the list's filter, without order or `LIMIT`): what the page shows when it ends
/// short of the limit (no statement), else counted up to [`EXACT_UP_TO`] when the planner
/// expects at most [`COUNTED_UP_TO`], else the planner's estimate. A list of a million rows is
/// never read to say how many there are.
pub async fn of_page<Q, F>(
    conn: &mut AsyncPgConnection,
    recent: Option<&RecentEstimates>,
    offset: i64,
    limit: i64,
    rows: usize,
    query: F,
) -> Result<Total, ApiError>
where
    F: Fn() -> Q,
    Q: QueryFragment<Pg> + Send + 'static,
{
    let rows = rows as i64;
    if (rows > 0 && rows < limit) || (rows == 0 && offset == 0) {
        return Ok(Total::exact(offset + rows));
    }
    let at_least = offset + rows;
    // A large list's estimate, as this replica last asked for it within ESTIMATE_TTL: the
    // same page asked again sends the page alone.
    let key = recent.map(|_| diesel::debug_query::<Pg, _>(&query()).to_string());
    if let (Some(recent), Some(key)) = (recent, &key)
        && let Some(known) = recent.get(key)
    {
        return Ok(beyond(known, at_least));
    }
    let expected = estimate(conn, query(), 1).await?;
    if let (Some(recent), Some(key)) = (recent, key)
        && expected.rows > COUNTED_UP_TO
    {
        recent.put(key, expected);
    }
    if at_least <= EXACT_UP_TO
        && expected.rows <= COUNTED_UP_TO
        && let Some(n) = counted(conn, query()).await?
    {
        return Ok(Total::exact(n));
    }
    Ok(beyond(expected, at_least))
}

/// How long a replica reuses the estimate of a large list (over [`COUNTED_UP_TO`]) for the
/// same filter: the staleness of `totalRecords` when `totalRecordsIsEstimate` is true. An
/// estimate is PostgreSQL's statistics, which move only when it analyses the table anyway.
pub const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// The estimates of large lists one replica's pool asked for in the last [`ESTIMATE_TTL`], by
/// the SQL and values of the list's filter; at most [`RecentEstimates::CAPACITY`] of them.
/// Owned by the pool ([`crate::store::db::Db::estimates`]): one database's estimates.
#[derive(Default)]
pub struct RecentEstimates {
    known: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Estimate)>>,
}

impl RecentEstimates {
    pub const CAPACITY: usize = 1024;

    fn get(&self, key: &str) -> Option<Estimate> {
        let known = self.known.lock().ok()?;
        let (at, estimate) = known.get(key)?;
        (at.elapsed() < ESTIMATE_TTL).then_some(*estimate)
    }

    fn put(&self, key: String, estimate: Estimate) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= Self::CAPACITY {
                known.retain(|_, (at, _)| at.elapsed() < ESTIMATE_TTL);
                if known.len() >= Self::CAPACITY {
                    known.clear();
                }
            }
            known.insert(key, (std::time::Instant::now(), estimate));
        }
    }
}

/// The planner's [`Estimate`] of `query`'s rows, and how it would find its first `first`.
pub async fn estimate<Q>(
    conn: &mut AsyncPgConnection,
    query: Q,
    first: i64,
) -> Result<Estimate, ApiError>
where
    Q: QueryFragment<Pg> + Send + 'static,
{
    let plan: String = Explain(Capped(query, first)).get_result(conn).await?;
    let parsed: serde_json::Value = serde_json::from_str(&plan).map_err(ApiError::internal)?;
    parsed
        .get(0)
        .and_then(|p| p.get("Plan"))
        .and_then(limited)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("EXPLAIN gave no estimate: {plan}")))
}

/// The [`Estimate`]s of queries written as SQL (each `SELECT … FROM … WHERE …`, without
/// `LIMIT`), in one `EXPLAIN` of them all (`UNION ALL`), each for its first `first` rows.
pub async fn estimates(
    conn: &mut AsyncPgConnection,
    queries: &[String],
    first: i64,
) -> Result<Vec<Estimate>, ApiError> {
    let union = queries
        .iter()
        .map(|q| format!("({q} LIMIT {first})"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let plan: String = Explain(diesel::sql_query(union)).get_result(conn).await?;
    let parsed: serde_json::Value = serde_json::from_str(&plan).map_err(ApiError::internal)?;
    let top = parsed.get(0).and_then(|p| p.get("Plan"));
    let found: Option<Vec<Estimate>> = match top {
        Some(top) if queries.len() == 1 => limited(top).map(|e| vec![e]),
        Some(top) => top
            .get("Plans")
            .and_then(|plans| plans.as_array())
            .filter(|plans| plans.len() == queries.len())
            .and_then(|plans| plans.iter().map(limited).collect()),
        None => None,
    };
    if let Some(found) = found {
        return Ok(found);
    }
    // PostgreSQL left out or merged a branch (one it knew to be empty): each on its own.
    let mut found = Vec::with_capacity(queries.len());
    for query in queries {
        found.push(estimate(conn, diesel::sql_query(query.clone()), first).await?);
    }
    Ok(found)
}

/// The [`Estimate`] of a plan's `Limit` node: the rows of what it limits, and whether that is
/// found by reading the table in order.
fn limited(plan: &serde_json::Value) -> Option<Estimate> {
    let node = |p: &serde_json::Value| {
        p.get("Node Type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    };
    let mut under = plan;
    while matches!(
        node(under).as_deref(),
        Some("Limit" | "Aggregate" | "Subquery Scan" | "Result")
    ) {
        // A condition PostgreSQL knows to be false leaves a `Result` with nothing below.
        match under.get("Plans").and_then(|p| p.get(0)) {
            Some(below) => under = below,
            None if node(under).as_deref() == Some("Result") => {
                return Some(Estimate {
                    rows: 0,
                    scan: false,
                });
            }
            None => return None,
        }
    }
    let rows = under.get("Plan Rows")?.as_f64()?;
    Some(Estimate {
        rows: rows.round() as i64,
        scan: reads_in_order(under),
    })
}

/// Whether a plan reads a table in order (a sequential scan), itself or below.
fn reads_in_order(plan: &serde_json::Value) -> bool {
    plan.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan")
        || plan
            .get("Plans")
            .and_then(|p| p.as_array())
            .is_some_and(|plans| plans.iter().any(reads_in_order))
}

/// `EXPLAIN (FORMAT JSON)` of a query.
struct Explain<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("EXPLAIN (FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> Query for Explain<Q> {
    type SqlType = Text;
}

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// `SELECT count(*)` of the first `n` rows of a query.
struct Capped<Q>(Q, i64);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Capped<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("SELECT count(*) FROM (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT ");
        out.push_bind_param::<BigInt, i64>(&self.1)?;
        out.push_sql(") AS counted");
        Ok(())
    }
}

impl<Q> Query for Capped<Q> {
    type SqlType = BigInt;
}

impl<Q> QueryId for Capped<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_is_read_below_the_limit_with_how_the_table_is_read() {
        let plan: serde_json::Value = serde_json::from_str(
            r#"{"Node Type": "Aggregate", "Plan Rows": 1, "Plans": [{"Node Type": "Limit",
                "Plan Rows": 101, "Plans": [{"Node Type": "Bitmap Heap Scan",
                "Plan Rows": 5055.4, "Plans": [{"Node Type": "Bitmap Index Scan"}]}]}]}"#,
        )
        .expect("json");
        assert_eq!(
            limited(&plan),
            Some(Estimate {
                rows: 5055,
                scan: false
            })
        );
        let plan: serde_json::Value = serde_json::from_str(
            r#"{"Node Type": "Limit", "Plans": [{"Node Type": "Seq Scan", "Plan Rows": 9000}]}"#,
        )
        .expect("json");
        assert_eq!(
            limited(&plan),
            Some(Estimate {
                rows: 9000,
                scan: true
            })
        );
        assert_eq!(limited(&serde_json::json!({"Node Type": "Limit"})), None);
        assert_eq!(
            limited(&serde_json::json!({"Node Type": "Result", "Plan Rows": 0})),
            Some(Estimate {
                rows: 0,
                scan: false
            })
        );
    }

    #[test]
    fn what_was_seen_of_the_first_rows_says_whether_there_are_more() {
        assert_eq!(Seen::of(Some(3), 1001), Seen::All(3));
        assert_eq!(Seen::of(Some(1001), 1001), Seen::More(1001));
        assert_eq!(Seen::of(None, 1001), Seen::Nothing);
    }

    #[test]
    fn an_estimate_added_to_a_count_is_an_estimate() {
        let sum = Total::exact(3).plus(Total::estimated(2000));
        assert_eq!(sum, Total::estimated(2003));
        assert_eq!(Total::exact(3).plus(Total::exact(4)), Total::exact(7));
    }
}
