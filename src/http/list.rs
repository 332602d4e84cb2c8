//! Paging and sorting of lists, shared by every collection.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Violation};
use crate::store::count::Total;

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

    /// The total of the list this page of `rows` rows was read from (`query`: its filter,
    /// unordered): see [`crate::store::count::of_page`].
    pub async fn total<Q, F>(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        rows: usize,
        query: F,
    ) -> Result<Total, crate::error::ApiError>
    where
        F: Fn() -> Q,
        Q: diesel::query_builder::QueryFragment<diesel::pg::Pg> + Send + 'static,
    {
        crate::store::count::of_page(
            conn,
            None,
            self.offset(),
            i64::from(self.limit),
            rows,
            query,
        )
        .await
    }

    /// The paging information of a page of `count` items out of `total` (a count, or a
    /// [`Total`] that may be an estimate).
    pub fn meta(&self, count: usize, total: impl Into<Total>) -> PageMeta {
        let total = total.into();
        let limit = i64::from(self.limit);
        PageMeta {
            page: Some(self.page),
            limit: self.limit,
            count: count as u32,
            total_records: Some(total.records),
            total_records_is_estimate: Some(total.estimate),
            total_pages: Some((total.records + limit - 1) / limit),
            next_cursor: None,
        }
    }

    /// The paging information of a page of `count` items read after a cursor: no totals.
    pub fn meta_after_cursor(&self, count: usize) -> PageMeta {
        PageMeta {
            page: None,
            limit: self.limit,
            count: count as u32,
            total_records: None,
            total_records_is_estimate: None,
            total_pages: None,
            next_cursor: None,
        }
    }
}

impl From<i64> for Total {
    fn from(records: i64) -> Self {
        Total::exact(records)
    }
}

/// Paging information of a list answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"page": 1, "limit": 20, "count": 20, "totalRecords": 1843,
                          "totalRecordsIsEstimate": true, "totalPages": 93,
                          "nextCursor": "eyJrIjp7ImNyZWF0ZWRfYXQiOiIyMDIyLTA5LTE1VDEwOjAwOjAwWiIsImlkIjoiMiJ9LCJzIjoiLWNyZWF0ZWRBdCxpZCJ9.GNmyrkLRXcfBNXMcEpdZ6A"}))]
pub struct PageMeta {
    /// The page returned, from 1. Absent on a page read with `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The page size asked for.
    pub limit: u32,
    /// Items on this page.
    pub count: u32,
    /// Items matching the filters, on all pages: exact up to 1 000; above that, or where
    /// PostgreSQL expects more than 10 000, its estimate, and `totalRecordsIsEstimate` is true.
    /// Absent on a page read with `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_records: Option<i64>,
    /// Whether `totalRecords` (and so `totalPages`) is an estimate: only for more than 1 000
    /// matches (or where PostgreSQL expects more than 10 000), which are not read to be counted. Page on until a page is not full. Absent on
    /// a page read with `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_records_is_estimate: Option<bool>,
    /// Pages at this page size. Absent on a page read with `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<i64>,
    /// For lists with an `after` parameter: the cursor of the next page (pass it as `after`),
    /// when this page is full; absent on the last page and on search results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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
    pub search: Option<crate::http::search::Search>,
    /// The `after` cursor, for collections paged by keyset ([`crate::http::cursor`]).
    pub after: Option<String>,
}

impl<F> Listing<F> {
    /// The listing with a search (`q`).
    pub fn searching(self, search: Option<crate::http::search::Search>) -> Self {
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
    after: Option<&str>,
    default: SortKey<F>,
) -> Option<Listing<F>> {
    let paging = v.check(paging(limit, page));
    let sort = v.check(sort(sort_keys, &[default]));
    if after.is_some() && page.is_some() {
        v.push(
            "after",
            "cannot be combined with page: a cursor continues where its page ended",
        );
    }
    if after.is_some_and(|a| a.len() > crate::http::cursor::MAX_LENGTH) {
        v.push(
            "after",
            format!(
                "must be at most {} characters",
                crate::http::cursor::MAX_LENGTH
            ),
        );
    }
    Some(Listing {
        paging: paging?,
        sort: sort?,
        search: None,
        after: after.map(str::to_owned),
    })
}

/// A field a collection can be sorted by, named as in its JSON.
pub trait SortField: Copy + PartialEq + Sized + 'static {
    const ALL: &'static [(&'static str, Self)];

    /// Its name in `sort` and in the JSON.
    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(name, _)| name)
    }

    /// Its column (for keyset paging: [`crate::http::cursor`]).
    fn column(self) -> &'static str;

    /// Whether its NULLs sort last (a nullable column; the others are `NOT NULL`).
    fn nulls_last(self) -> bool;
}

/// The name of a column, as [`SortField::column`] gives it.
pub fn column_name<C: diesel::Column>(_: C) -> &'static str {
    C::NAME
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

            fn column(self) -> &'static str {
                match self {
                    $(Self::$variant => $crate::http::list::column_name($column),)+
                }
            }

            fn nulls_last(self) -> bool {
                match self {
                    $(Self::$variant => $crate::sort_nulls!(@nullable $($nulls)?),)+
                }
            }
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

/// The `after` cursor of list parameters that declare `keyset(after)`, else `None`.
#[doc(hidden)]
#[macro_export]
macro_rules! list_after {
    ($params:ident) => {
        None
    };
    ($params:ident, $after:ident) => {
        $params.$after.as_deref()
    };
}

/// A sort expression, with `NULLS LAST` when asked for (`nulls last`).
#[doc(hidden)]
#[macro_export]
macro_rules! sort_nulls {
    (@nullable) => {
        false
    };
    (@nullable last) => {
        true
    };
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
            $(keyset($after:ident),)?
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
            $(
            /// Keyset paging: `_meta.nextCursor` of the previous page, to read the page after
            /// it. Every page then costs what the first does, however deep, and records added
            /// or removed meanwhile shift nothing. Send the same filters and `sort` with each
            /// page; not with `page` or `q`, and only for JSON pages. A page read this way
            /// carries no totals (`page`, `totalRecords`, `totalPages`).
            #[param(max_length = 2048, example = "eyJrIjp7ImNyZWF0ZWRfYXQiOiIyMDIyLTA5LTE1VDEwOjAwOjAwWiIsImlkIjoiMiJ9LCJzIjoiLWNyZWF0ZWRBdCxpZCJ9.GNmyrkLRXcfBNXMcEpdZ6A")]
            pub $after: Option<String>,
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
                $crate::http::list::listing(
                    v,
                    self.limit,
                    self.page,
                    self.sort.as_deref(),
                    $crate::list_after!(self $(, $after)?),
                    default,
                )
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

        fn column(self) -> &'static str {
            match self {
                F::Name => "name",
                F::UpdatedAt => "updated_at",
            }
        }

        fn nulls_last(self) -> bool {
            false
        }
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
        assert_eq!(meta.total_pages, Some(3));
    }
}
