//! The resource kernel: what every resource is, and the one write protocol they all use.
//!
//! A resource implements [`Resource`] (its kind, key, version, owners, audit view and its
//! storage: find, update, check, patch), [`Creatable`] and [`Removable`] when clients create
//! and delete it, and [`External`] when systems push it by their own ids. Its handlers stay thin
//! and explicit: they parse the request and call [`create`], [`update`], [`delete`] or
//! [`upsert`], which run, inside one unit of work ([`Work`]):
//!
//! lock → `If-Match` → municipality binding → check → write → audit (only when the version
//! changed) → commit once (with the idempotency key's effect).
//!
//! No handler writes a resource's table, its audit entry or its idempotency mark by hand.

pub mod operations;

use std::fmt::Display;
use std::marker::PhantomData;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, Violation, Violations};
use crate::http::{PathKey, conditional_json, from_value, version_etag};
use crate::integration::work::{Change, Work, Writer};
use crate::store::db::Db;

/// Whether a read locks the row for the rest of the transaction (`FOR UPDATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    No,
    ForUpdate,
}

/// The first row of `query` (`None` if there is none), locked `FOR UPDATE` when asked.
#[macro_export]
macro_rules! first_row {
    ($query:expr, $conn:expr, $lock:expr) => {{
        let query = $query;
        match $lock {
            $crate::kernel::Lock::ForUpdate => query.for_update().first($conn).await.optional(),
            $crate::kernel::Lock::No => query.first($conn).await.optional(),
        }
    }};
}

/// The [`Resource`] methods of a record kept in one row of `$table` under a `Uuid` id: `id`,
/// `key` (the id, or a key made `From` it and `Into` it), `version`, its URL `$collection/{id}`,
/// an audit view that is the record as served (no personal data in it), and `find` and
/// `update` through the `$row` it is made `From`. Written inside the `impl Resource` block.
#[macro_export]
macro_rules! uuid_record {
    ($collection:literal, $table:ident, $row:ty) => {
        async fn find(
            conn: &mut diesel_async::AsyncPgConnection,
            key: &Self::Key,
            lock: $crate::kernel::Lock,
        ) -> diesel::QueryResult<Option<Self>> {
            use diesel::{OptionalExtension, QueryDsl, SelectableHelper};
            use diesel_async::RunQueryDsl;
            let id: uuid::Uuid = (*key).into();
            let query = $table::table.find(id).select(<$row>::as_select());
            let row = $crate::first_row!(query, conn, lock)?;
            Ok(row.map(Self::from))
        }
        async fn update(
            conn: &mut diesel_async::AsyncPgConnection,
            key: &Self::Key,
            values: &Self::Values,
        ) -> diesel::QueryResult<Self> {
            let id: uuid::Uuid = (*key).into();
            $crate::update_row!(conn, $table, id, values, $row).map(Self::from)
        }
        fn id(&self) -> String {
            self.id.to_string()
        }
        fn key(&self) -> Self::Key {
            self.id.into()
        }
        fn version(&self) -> i64 {
            self.version
        }
        fn location(&self) -> String {
            format!(concat!($collection, "/{}"), self.id)
        }
        fn audit_view(&self) -> Option<serde_json::Value> {
            serde_json::to_value(self).ok()
        }
    };
}

/// `Creatable` for a record kept in one row with a `Uuid` id: inserts its values (which derive
/// `Insertable`) under a new id and reads the record back from the row.
#[macro_export]
macro_rules! creatable_row {
    ($record:ty, $table:ident, $row:ty) => {
        impl $crate::kernel::Creatable for $record {
            async fn insert(
                conn: &mut diesel_async::AsyncPgConnection,
                values: &<$record as $crate::kernel::Resource>::Values,
            ) -> diesel::QueryResult<Self> {
                use diesel::{ExpressionMethods, SelectableHelper};
                use diesel_async::RunQueryDsl;
                diesel::insert_into($table::table)
                    .values(($table::id.eq(uuid::Uuid::new_v4()), values))
                    .returning(<$row>::as_returning())
                    .get_result::<$row>(conn)
                    .await
                    .map(<$record>::from)
            }
        }
    };
}

/// The row with primary key `$id` after writing `$values` (which derive `AsChangeset`) over it.
#[macro_export]
macro_rules! update_row {
    ($conn:expr, $table:ident, $id:expr, $values:expr, $row:ty) => {{
        use diesel::{QueryDsl, SelectableHelper};
        use diesel_async::RunQueryDsl;
        diesel::update($table::table.find($id))
            .set($values)
            .returning(<$row>::as_returning())
            .get_result::<$row>($conn)
            .await
    }};
}

/// `Removable` for a resource stored in one row: deletes the row whose primary key is `$id`
/// (computed from the key `$key`).
#[macro_export]
macro_rules! removable_row {
    ($record:ty, $table:ident, |$key:ident| $id:expr) => {
        impl $crate::kernel::Removable for $record {
            async fn delete(
                conn: &mut diesel_async::AsyncPgConnection,
                $key: &<$record as $crate::kernel::Resource>::Key,
            ) -> diesel::QueryResult<()> {
                use diesel::QueryDsl;
                use diesel_async::RunQueryDsl;
                diesel::delete($table::table.find($id))
                    .execute(conn)
                    .await
                    .map(drop)
            }
        }
    };
}

/// `External` for a resource whose table has `external_system` and `external_id`, unique
/// together under the constraint `$constraint`, and whose row converts into the record.
#[macro_export]
macro_rules! external_row {
    ($record:ty, $table:ident, $row:ty, $constraint:literal) => {
        impl $crate::kernel::External for $record {
            const EXTERNAL_KEY: &'static str = $constraint;

            async fn find_external(
                conn: &mut diesel_async::AsyncPgConnection,
                values: &<$record as $crate::kernel::Resource>::Values,
            ) -> diesel::QueryResult<Option<Self>> {
                use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
                use diesel_async::RunQueryDsl;
                $table::table
                    .filter($table::external_system.eq(&values.external_system))
                    .filter($table::external_id.eq(&values.external_id))
                    .select(<$row>::as_select())
                    .for_update()
                    .first::<$row>(conn)
                    .await
                    .optional()
                    .map(|row| row.map(<$record>::from))
            }
        }
    };
}

/// One page of a list of `$table` and the number of all its matches, as
/// `(Vec<$row>, Total)`. `$filtered` is a function from the search (`Option<&Corrected>`) to
/// the table's boxed query with the list's filters and the search's condition; `$order` orders
/// such a query by the list's sort keys and a tie-breaker. Without a search: a count and a page,
/// each answered from indexes. A search sorted by `sort` reads its page and counts its hits up to
/// a limit ([`total`](crate::store::count::total)). A ranked search reads its page from a bounded
/// window of candidates in one statement ([`Window`](crate::http::search::Window)), which also
/// counts the hits when there are few; otherwise they are counted up to a limit.
#[macro_export]
macro_rules! counted_page {
    ($conn:ident, $db:expr, $table:ident, $filtered:expr, $order:expr, $row:ty, $paging:expr, $search:expr) => {{
        use diesel::{QueryDsl, SelectableHelper};
        use diesel_async::RunQueryDsl;
        let paging = &$paging;
        let filtered = &$filtered;
        let order = &$order;
        let search: Option<&$crate::http::search::Corrected> = $search;
        let limit = i64::from(paging.limit);
        match search {
            Some(search) if search.ranked() => {
                use diesel::sql_types::{BigInt, Bool, Nullable};
                let k = $crate::http::search::window(paging);
                let estimate = $crate::store::count::estimate(
                    &mut $conn,
                    filtered(Some(search)).select($table::id),
                    k + 1,
                )
                .await?;
                let plan = $crate::http::search::Plan::new(k, "", estimate);
                let candidates = |condition: String| {
                    filtered(None)
                        .filter($crate::http::search::Raw::<Bool>::new(condition))
                        .select($table::id)
                };
                let mut words = $crate::http::search::Words::bound();
                let titled = [
                    candidates(search.title_has_every("", &mut words)),
                    candidates(
                        search.title_has_any("", &mut words)
                            + " AND "
                            + &search.matches_filter("", &mut words),
                    ),
                ];
                let rest = candidates(plan.rest_condition(search, "", &mut words));
                let page = order($crate::ranked!(
                    $table::table
                        .into_boxed()
                        .filter($crate::http::search::Raw::<Bool>::new(
                            plan.in_window(stringify!($table)),
                        )),
                    Some(search),
                    &mut words
                ))
                .select((
                    <$row>::as_select(),
                    $crate::http::search::Raw::<Nullable<BigInt>>::new(plan.seen()),
                ));
                let (limit, offset) = (words.bigint(limit), words.bigint(paging.offset()));
                let window = $crate::http::search::Window {
                    words: words.cte(),
                    k,
                    titled,
                    rest,
                    rest_limit: plan.rest_limit(),
                    page,
                    limit,
                    offset,
                };
                let rows: Vec<($row, Option<i64>)> = window.load(&mut $conn).await?;
                let seen = match rows.as_slice().first() {
                    Some((_, seen)) => plan.saw(*seen),
                    None if paging.offset() == 0 => $crate::store::count::Seen::All(0),
                    None => $crate::store::count::Seen::Nothing,
                };
                let total = $crate::store::count::total(&mut $conn, seen, estimate, || {
                    filtered(Some(search)).select($table::id)
                })
                .await?;
                (
                    rows.into_iter().map(|(row, _)| row).collect::<Vec<$row>>(),
                    total,
                )
            }
            Some(search) => {
                let rows: Vec<$row> = order(filtered(Some(search)))
                    .select(<$row>::as_select())
                    .limit(limit)
                    .offset(paging.offset())
                    .load(&mut $conn)
                    .await?;
                let seen = if paging.offset() == 0 && rows.len() < paging.limit as usize {
                    $crate::store::count::Seen::All(rows.len() as i64)
                } else {
                    $crate::store::count::Seen::Nothing
                };
                let total = match seen {
                    $crate::store::count::Seen::All(n) => $crate::store::count::Total::exact(n),
                    _ => {
                        let estimate = $crate::store::count::estimate(
                            &mut $conn,
                            filtered(Some(search)).select($table::id),
                            1,
                        )
                        .await?;
                        $crate::store::count::total(&mut $conn, seen, estimate, || {
                            filtered(Some(search)).select($table::id)
                        })
                        .await?
                    }
                };
                (rows, total)
            }
            None => {
                let rows: Vec<$row> = order(filtered(None))
                    .select(<$row>::as_select())
                    .limit(limit)
                    .offset(paging.offset())
                    .load(&mut $conn)
                    .await?;
                let total = $crate::store::count::of_page(
                    &mut $conn,
                    Some($db.estimates()),
                    paging.offset(),
                    limit,
                    rows.len(),
                    || filtered(None).select($table::id),
                )
                .await?;
                (rows, total)
            }
        }
    }};
}

/// `Listed` for a resource kept in one table (`$table`, its rows read as `$row` and served as
/// the resource's `Wire`): every match streamed as CSV or NDJSON (`$export` names the file) when
/// the client asked for one, else one page of JSON with the count of all matches and its entity
/// tag. `$filter` turns the list parameters into their [`Listing`](crate::http::list::Listing)
/// and a function that returns the filtered query; `$sort` orders it (then by id, so that pages
/// are stable).
#[macro_export]
macro_rules! table_list {
    ($record:ty, $table:ident, $row:ty, $export:literal, $params:ty => $page:ident,
     filter: $filter:ident, sort: $sort:ty, plural: $plural:literal, $doc:expr $(,)?) => {
        impl $crate::kernel::operations::Listed for $record {
            const LIST: $crate::kernel::operations::Doc = $doc;
            const WEIGHS_SET_ASIDE: bool = true;
            const PLURAL: &'static str = $plural;
            type Params = $params;
            type Page = $page;

            async fn list(
                request: $crate::kernel::operations::ListRequest<Self>,
            ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
                use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
                use diesel_async::RunQueryDsl;
                type Wire = <$record as $crate::kernel::operations::Served>::Wire;
                /// The query in the order `keys` asks for, then by `id` in the direction of the
                /// last key: so that an order in one direction is one index's order, and a
                /// cursor's position one row comparison ([`crate::http::cursor`]).
                fn ordered<'a>(
                    query: $table::BoxedQuery<'a, diesel::pg::Pg>,
                    keys: &[$crate::http::list::SortKey<$sort>],
                ) -> $table::BoxedQuery<'a, diesel::pg::Pg> {
                    let query = <$sort>::order(query, keys);
                    if keys.last().is_some_and(|k| k.descending) {
                        query.then_order_by($table::id.desc())
                    } else {
                        query.then_order_by($table::id.asc())
                    }
                }
                let format = $crate::integration::export::negotiate(&request.req)?;
                let (listing, unsearched) =
                    $crate::kernel::with_set_aside(request.set_aside, $filter(request.params))?;
                let filtered = move |search: Option<&$crate::http::search::Corrected>| {
                    let mut query = unsearched();
                    $crate::full_text!(query, search);
                    query
                };
                if listing.after.is_some() {
                    if format != $crate::integration::export::Format::Json {
                        return Err($crate::error::ApiError::invalid(
                            "after",
                            "pages JSON lists; a CSV or NDJSON export has every match already",
                        ));
                    }
                    if listing.search.is_some() {
                        return Err($crate::error::ApiError::invalid(
                            "after",
                            "cannot be combined with q: search results are ranked, not walked",
                        ));
                    }
                }
                if format != $crate::integration::export::Format::Json {
                    let sort = listing.sort;
                    let search = listing.search;
                    let db = &request.db;
                    return request
                        .exports
                        .respond::<Wire, _, _>(
                            format,
                            $export,
                            db,
                            move |sink, mut conn| async move {
                                let search =
                                    $crate::http::search::corrected(search, &mut conn).await?;
                                let search = search.as_ref();
                                let rows = ordered(
                                    $crate::ranked!(
                                        filtered(search),
                                        search,
                                        &mut $crate::http::search::Words::Literal
                                    ),
                                    &sort,
                                )
                                .select(<$row>::as_select())
                                .load_stream::<$row>(&mut conn)
                                .await?;
                                sink.drain(rows, Wire::from).await
                            },
                        )
                        .await;
                }
                let keys = $crate::http::cursor::key_columns(&listing.sort);
                let cursor_key = $crate::http::cursor::key_of(&request.req)?;
                let sort = &listing.sort;
                let mut conn = request.db.conn().await?;
                // A page after a cursor (no totals), or a page by number with its total; only
                // an unsearched page is walked on by cursor.
                let (rows, mut meta, walkable) = match listing.after.as_deref() {
                    Some(after) => {
                        let values = $crate::http::cursor::read(&cursor_key, &keys, after)?;
                        let condition =
                            $crate::http::cursor::condition(stringify!($table), &keys, &values);
                        let rows: Vec<$row> = ordered(
                            filtered(None).filter($crate::http::search::Raw::<
                                diesel::sql_types::Bool,
                            >::new(condition)),
                            sort,
                        )
                        .select(<$row>::as_select())
                        .limit(i64::from(listing.paging.limit))
                        .load(&mut conn)
                        .await?;
                        let meta = listing.paging.meta_after_cursor(rows.len());
                        (rows, meta, true)
                    }
                    None => {
                        let search =
                            $crate::http::search::corrected(listing.search, &mut conn).await?;
                        let search = search.as_ref();
                        let (rows, total) = $crate::counted_page!(
                            conn,
                            request.db,
                            $table,
                            filtered,
                            |query| ordered(query, sort),
                            $row,
                            listing.paging,
                            search
                        );
                        let meta = listing.paging.meta(rows.len(), total);
                        (rows, meta, search.is_none())
                    }
                };
                drop(conn);
                let items: Vec<Wire> = rows.into_iter().map(Wire::from).collect();
                if walkable {
                    meta.next_cursor =
                        $crate::http::cursor::next(&cursor_key, &keys, &listing.paging, &items);
                }
                let page = $page { meta, items };
                $crate::http::conditional_json(&request.req, &page, None)
            }
        }
    };
}

/// A list's own checks of its parameters (`checked`), answered together with the parameters
/// the query set aside as unknown or malformed: every violation of the request at once.
pub fn with_set_aside<T>(
    set_aside: Vec<Violation>,
    checked: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match (set_aside.is_empty(), checked) {
        (true, checked) => checked,
        (false, Err(ApiError::Validation(own))) => {
            let named = all_fields(&set_aside);
            let mut all = set_aside;
            all.extend(own.into_iter().filter(|v| !named.contains(&v.field)));
            Err(ApiError::Validation(all))
        }
        (false, _) => Err(ApiError::Validation(set_aside)),
    }
}

fn all_fields(violations: &[Violation]) -> Vec<String> {
    violations.iter().map(|v| v.field.clone()).collect()
}

/// Whether a merge-patch member was sent as `null`.
pub fn is_null<T>(member: &Option<Option<T>>) -> bool {
    matches!(member, Some(None))
}

/// 400 naming every merge-patch member that was sent as `null` but may not be.
pub fn refuse_nulls(members: &[(&str, bool)]) -> Result<(), ApiError> {
    let mut v = Violations::default();
    for (field, null) in members {
        if *null {
            v.push(*field, "must not be null");
        }
    }
    v.finish()
}

/// A record's values as they will be written (a create, a replace, or a patch applied to the
/// current record), with the resource's own rules. The JSON endpoints and the importer both run
/// them, so a value is refused the same way, with the same message, on either path.
#[allow(async_fn_in_trait)]
pub trait Form {
    /// The rules that need no database (lengths, formats, enums, cross-field rules), with every
    /// violation at once.
    fn check(&self, v: &mut Violations);
    /// The rules that read the database (references to other records), in the work's
    /// transaction.
    async fn check_references(&self, _conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A stored resource of the API.
///
/// The futures of these methods are not `Send`: they run on actix's single-threaded workers.
#[allow(async_fn_in_trait)]
pub trait Resource: Sized {
    /// The kind, as the audit log, the change feed and the importer name it: `area`, `feedback`.
    const KIND: &'static str;
    /// One of them in a sentence: `area`, `feedback entry`.
    const NOUN: &'static str;
    /// What identifies one in a path (`Uuid`, or the parent's id and its own).
    type Key: Display;
    /// A complete, not yet validated record as the client sent it (a create, a replace, or a
    /// patch applied to the current record).
    type Values: Form;
    /// A JSON Merge Patch (RFC 7396) of the record.
    type Patch;

    /// The id the audit log and the change feed use.
    fn id(&self) -> String;
    fn key(&self) -> Self::Key;
    fn version(&self) -> i64;
    /// Its URL, for `Location`.
    fn location(&self) -> String;
    /// The municipalities the record belongs to (none: the association's own).
    fn owners(&self) -> Vec<String>;
    /// What the audit log keeps of it: the representation, personal data redacted.
    fn audit_view(&self) -> Option<serde_json::Value>;

    async fn find(
        conn: &mut AsyncPgConnection,
        key: &Self::Key,
        lock: Lock,
    ) -> diesel::QueryResult<Option<Self>>;
    async fn update(
        conn: &mut AsyncPgConnection,
        key: &Self::Key,
        values: &Self::Values,
    ) -> diesel::QueryResult<Self>;

    /// The municipalities the record will belong to once written.
    async fn value_owners(
        conn: &mut AsyncPgConnection,
        values: &Self::Values,
    ) -> Result<Vec<String>, ApiError>;

    /// Rules of the patch itself (members that may not be null), checked before anything is
    /// read.
    fn check_patch(_patch: &Self::Patch) -> Result<(), ApiError> {
        Ok(())
    }
    /// The record with the patch applied.
    fn patched(&self, patch: Self::Patch) -> Self::Values;
    /// Whether this record may be replaced by `values` at all (what identifies it may not
    /// change).
    fn may_become(&self, _values: &Self::Values) -> Result<(), ApiError> {
        Ok(())
    }

    /// A unique constraint other than the external reference's was violated.
    fn conflict(_values: &Self::Values, _constraint: Option<&str>) -> ApiError {
        ApiError::Conflict(format!("The {} conflicts with an existing one", Self::NOUN))
    }
}

/// A resource that clients create.
#[allow(async_fn_in_trait)]
pub trait Creatable: Resource {
    async fn insert(
        conn: &mut AsyncPgConnection,
        values: &Self::Values,
    ) -> diesel::QueryResult<Self>;
}

/// A resource that clients delete.
#[allow(async_fn_in_trait)]
pub trait Removable: Resource {
    async fn delete(conn: &mut AsyncPgConnection, key: &Self::Key) -> diesel::QueryResult<()>;

    /// The record is still referred to by others.
    fn in_use() -> ApiError {
        ApiError::Conflict(format!("The {} is still in use", Self::NOUN))
    }
}

/// A resource that other systems push by their own ids (`externalSystem`/`externalId`).
#[allow(async_fn_in_trait)]
pub trait External: Creatable {
    /// The name of the unique constraint on the external reference.
    const EXTERNAL_KEY: &'static str;
    /// The record with the external reference in `values`, locked.
    async fn find_external(
        conn: &mut AsyncPgConnection,
        values: &Self::Values,
    ) -> diesel::QueryResult<Option<Self>>;
}

/// A resource that files load in bulk (`POST /v1/imports/{collection}`). Each row is read into
/// the resource's own form and checked by its own rules ([`Form::check`]), so a file's line
/// gets exactly the violations the JSON endpoint gives the same values, with the line added.
pub trait Importable: Creatable {
    /// The collection's name in the import's path.
    const COLLECTION: &'static str;
    /// A row (its columns by field name, without server-owned and empty ones) as values.
    fn from_row(row: Map<String, Value>) -> Result<Self::Values, Vec<Violation>>;
}

/// Every violation of one imported row, by the resource's own rules.
pub fn check_row<R: Importable>(row: Map<String, Value>) -> Vec<Violation> {
    match R::from_row(row) {
        Err(violations) => violations,
        Ok(values) => {
            let mut v = Violations::default();
            values.check(&mut v);
            v.into_vec()
        }
    }
}

/// A row read as a resource's form (`NewFeedback`, …), as the JSON extractor reads a body.
pub fn form<T: DeserializeOwned>(row: Map<String, Value>) -> Result<T, Vec<Violation>> {
    from_value(Value::Object(row)).map_err(|v| vec![v])
}

/// Takes a parent's id (`networkId`, `assignmentId`) out of a row.
pub fn take_id(row: &mut Map<String, Value>, field: &str) -> Result<uuid::Uuid, Vec<Violation>> {
    row.remove(field)
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
        .ok_or_else(|| vec![Violation::new(field, "must be a UUID")])
}

/// A record the kernel wrote, and whether it is new.
pub struct Written<R> {
    pub record: R,
    pub created: bool,
}

impl<R: Resource> Written<R> {
    /// The answer: 201 with `Location` for a new record, else 200; `ETag` from the version.
    pub fn reply(&self, body: &impl Serialize) -> HttpResponse {
        reply(&self.record, self.created, body)
    }
}

/// The answer to a write of `record`: 201 with `Location` when `created`, else 200, with the
/// `ETag` of its version.
pub fn reply<R: Resource>(record: &R, created: bool, body: &impl Serialize) -> HttpResponse {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::ETAG, version_etag(record.version())));
    if created {
        res.insert_header((header::LOCATION, record.location()));
    }
    res.json(body)
}

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A resource's key from the request path, parsed by its [`PathKey`] and documented by the
/// same impl (`params(Key<Network>)`): `key: Key<Network>` in a handler's arguments.
pub struct Key<R: Resource>(pub R::Key, pub PhantomData<fn() -> R>);

impl<R: Resource> actix_web::FromRequest for Key<R>
where
    R::Key: PathKey,
{
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(R::Key::from_path(req).map(|key| Key(key, PhantomData)))
    }
}

impl<R: Resource> utoipa::IntoParams for Key<R>
where
    R::Key: PathKey,
{
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        R::Key::parameters(R::NOUN)
    }
}

/// GET of one record.
pub async fn get<R: Resource>(db: &Db, key: &R::Key) -> Result<R, ApiError> {
    let mut conn = db.conn().await?;
    find::<R>(&mut conn, key, Lock::No).await
}

/// The record with this key, or its 404.
pub async fn find<R: Resource>(
    conn: &mut AsyncPgConnection,
    key: &R::Key,
    lock: Lock,
) -> Result<R, ApiError> {
    R::find(conn, key, lock)
        .await?
        .ok_or_else(|| not_found::<R>(key))
}

/// The answer to a GET of `record`: its representation `body` with the `ETag` of its version,
/// or 304 when `If-None-Match` has it.
pub fn current<R: Resource>(
    req: &HttpRequest,
    record: &R,
    body: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    conditional_json(req, body, Some(version_etag(record.version())))
}

/// The 404 for a key.
pub fn not_found<R: Resource>(key: &R::Key) -> ApiError {
    ApiError::not_found(format!("{} {key}", capitalized(R::NOUN)))
}

/// Whether a database error is a unique violation of `constraint`.
fn violates(err: &DieselError, constraint: &str) -> bool {
    matches!(err, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some(constraint))
}

/// A failed insert or update as the client sees it.
fn write_error<R: Resource>(
    err: DieselError,
    values: &R::Values,
    external: Option<&str>,
) -> ApiError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let constraint = info.constraint_name();
            if external.is_some() && constraint == external {
                ApiError::Conflict(format!(
                    "Another {} already has this externalSystem and externalId",
                    R::NOUN
                ))
            } else {
                R::conflict(values, constraint)
            }
        }
        other => other.into(),
    }
}

/// Reads and locks the record for a change: 404 if absent, 412 unless `expected` (from
/// `If-Match`; `None` for `*` or none required) is its version, 403 if the caller's
/// municipality binding does not cover it.
pub async fn lock<R: Resource>(
    work: &mut Work<'_>,
    key: &R::Key,
    expected: Option<i64>,
) -> Result<R, ApiError> {
    let current = find::<R>(work.conn(), key, Lock::ForUpdate).await?;
    may_change(work, &current, expected)?;
    Ok(current)
}

/// The preconditions of changing the locked `current` record: `If-Match` (412), then the
/// caller's municipality binding (403).
fn may_change<R: Resource>(
    work: &Work<'_>,
    current: &R,
    expected: Option<i64>,
) -> Result<(), ApiError> {
    check_version(current, expected)?;
    work.bind(&current.owners())
}

fn check_version<R: Resource>(current: &R, expected: Option<i64>) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current.version() => Err(ApiError::PreconditionFailed(version_etag(
            current.version(),
        ))),
        _ => Ok(()),
    }
}

/// Binding and validation of the values about to be written.
async fn admit<R: Resource>(work: &mut Work<'_>, values: &R::Values) -> Result<(), ApiError> {
    let owners = R::value_owners(work.conn(), values).await?;
    work.bind(&owners)?;
    let mut v = Violations::default();
    values.check(&mut v);
    v.finish()?;
    values.check_references(work.conn()).await
}

/// Writes a new record in the work, with its audit entry.
pub async fn insert<R: Creatable>(
    work: &mut Work<'_>,
    values: &R::Values,
    external: Option<&str>,
) -> Result<R, ApiError> {
    admit::<R>(work, values).await?;
    let created = R::insert(work.conn(), values)
        .await
        .map_err(|e| write_error::<R>(e, values, external))?;
    audit(work, "create", None, Some(&created)).await?;
    Ok(created)
}

/// Replaces the locked `current` record by `values` in the work; audited when the version
/// changed (an identical write changes nothing).
pub async fn replace<R: Resource>(
    work: &mut Work<'_>,
    current: R,
    values: &R::Values,
    external: Option<&str>,
) -> Result<R, ApiError> {
    current.may_become(values)?;
    admit::<R>(work, values).await?;
    let after = R::update(work.conn(), &current.key(), values)
        .await
        .map_err(|e| write_error::<R>(e, values, external))?;
    if after.version() != current.version() {
        audit(work, "update", Some(&current), Some(&after)).await?;
    }
    Ok(after)
}

/// Deletes the locked `current` record in the work, with its audit entry.
pub async fn remove<R: Removable>(work: &mut Work<'_>, current: R) -> Result<(), ApiError> {
    R::delete(work.conn(), &current.key())
        .await
        .map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => R::in_use(),
            other => other.into(),
        })?;
    audit(work, "delete", Some(&current), None).await
}

/// The audit entry of one change of a record.
pub async fn audit<R: Resource>(
    work: &mut Work<'_>,
    action: &str,
    before: Option<&R>,
    after: Option<&R>,
) -> Result<(), ApiError> {
    let id = after.or(before).map(R::id).unwrap_or_default();
    work.record(Change {
        action,
        kind: R::KIND,
        id: &id,
        before: before.and_then(R::audit_view),
        after: after.and_then(R::audit_view),
    })
    .await
}

/// POST: creates a record.
pub async fn create<R: Creatable>(
    writer: &Writer,
    values: R::Values,
) -> Result<Written<R>, ApiError> {
    let record = writer
        .run(async |work| insert::<R>(work, &values, None).await)
        .await?;
    Ok(Written {
        record,
        created: true,
    })
}

/// PATCH: applies a merge patch under `If-Match`.
pub async fn update<R: Resource>(
    writer: &Writer,
    key: &R::Key,
    expected: Option<i64>,
    patch: R::Patch,
) -> Result<Written<R>, ApiError> {
    R::check_patch(&patch)?;
    let record = writer
        .run(async |work| {
            let current = lock::<R>(work, key, expected).await?;
            let values = current.patched(patch);
            replace(work, current, &values, None).await
        })
        .await?;
    Ok(Written {
        record,
        created: false,
    })
}

/// DELETE under `If-Match`.
pub async fn delete<R: Removable>(
    writer: &Writer,
    key: &R::Key,
    expected: Option<i64>,
) -> Result<(), ApiError> {
    writer
        .run(async |work| {
            let current = lock::<R>(work, key, expected).await?;
            remove(work, current).await
        })
        .await
}

/// PUT by external reference: replaces the record with the reference in `values`, or creates
/// it. `expected` is the optional `If-Match` (a missing record matches no version). Two pushes
/// of a new record at once: the insert that loses the race to the unique external reference is
/// rolled back to its savepoint and becomes a replace of the winner's record.
pub async fn upsert<R: External>(
    writer: &Writer,
    values: R::Values,
    expected: Option<i64>,
) -> Result<Written<R>, ApiError> {
    writer
        .run(async |work| {
            for attempt in 0..2 {
                if let Some(current) = R::find_external(work.conn(), &values).await? {
                    may_change(work, &current, expected)?;
                    let record = replace(work, current, &values, Some(R::EXTERNAL_KEY)).await?;
                    return Ok(Written {
                        record,
                        created: false,
                    });
                }
                if expected.is_some() {
                    return Err(ApiError::PreconditionFailed(version_etag(0)));
                }
                admit::<R>(work, &values).await?;
                AnsiTransactionManager::begin_transaction(work.conn()).await?;
                match R::insert(work.conn(), &values).await {
                    Ok(record) => {
                        AnsiTransactionManager::commit_transaction(work.conn()).await?;
                        audit(work, "create", None, Some(&record)).await?;
                        return Ok(Written {
                            record,
                            created: true,
                        });
                    }
                    Err(e) => {
                        AnsiTransactionManager::rollback_transaction(work.conn()).await?;
                        if attempt > 0 || !violates(&e, R::EXTERNAL_KEY) {
                            return Err(write_error::<R>(e, &values, Some(R::EXTERNAL_KEY)));
                        }
                        // Another push of the same record committed first: replace it.
                    }
                }
            }
            Err(ApiError::Conflict(
                "Concurrent pushes of the same record; retry".to_owned(),
            ))
        })
        .await
}
