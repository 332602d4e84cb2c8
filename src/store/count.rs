//! Counting the matches of a search: exactly up to [`EXACT_UP_TO`], and above that
//! PostgreSQL's estimate, so that a search with a hundred thousand hits does not read them all
//! to say how many there are (PostgREST's `count=estimated` works the same way).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::ApiError;

/// Matches are counted exactly up to this many; beyond, the total is PostgreSQL's estimate.
pub const EXACT_UP_TO: i64 = 1000;

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

/// The rows `query` (a query without `LIMIT`) returns, from what was `seen` of them: exact
/// when all were seen or there are at most [`EXACT_UP_TO`], else estimated by the planner
/// (never below what was seen, nor below `EXACT_UP_TO` + 1). The planner is asked first, and
/// a count runs only when its estimate is below twice the limit, so that a search with many
/// hits never reads them to count them.
pub async fn total<Q, F>(
    conn: &mut AsyncPgConnection,
    seen: Seen,
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
    let estimate = estimate(conn, query()).await?;
    if estimate <= 2 * EXACT_UP_TO {
        let counted: i64 = Capped(query(), EXACT_UP_TO + 1).get_result(conn).await?;
        if counted <= EXACT_UP_TO {
            return Ok(Total::exact(counted));
        }
    }
    Ok(Total::estimated(
        estimate.max(at_least).max(EXACT_UP_TO + 1),
    ))
}

/// The planner's estimate of the rows `query` returns (`EXPLAIN`; nothing is run).
pub async fn estimate<Q>(conn: &mut AsyncPgConnection, query: Q) -> Result<i64, ApiError>
where
    Q: QueryFragment<Pg> + Send + 'static,
{
    let plan: String = Explain(query).get_result(conn).await?;
    plan_rows(&plan)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("EXPLAIN gave no row estimate: {plan}")))
}

/// The estimated rows of the top node of an `EXPLAIN (FORMAT JSON)` plan.
fn plan_rows(plan: &str) -> Option<i64> {
    let plan: serde_json::Value = serde_json::from_str(plan).ok()?;
    let rows = plan.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64()?;
    Some(rows.round() as i64)
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
    fn the_estimate_is_read_from_the_top_of_the_plan() {
        let plan = r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Plan Rows": 5055.4,
                       "Plans": [{"Plan Rows": 1}]}}]"#;
        assert_eq!(plan_rows(plan), Some(5055));
        assert_eq!(plan_rows("[]"), None);
        assert_eq!(plan_rows("not json"), None);
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
