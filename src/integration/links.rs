//! What every kind of link that opens something without a token (report links, calendar links)
//! shares in its management: which links a caller manages, the audit entry of a change, and
//! revoking one. Each kind keeps its links in a table of its own with `owner_id`,
//! `revoked_at` and `revoked_by`; [`link_management!`](crate::link_management) writes these for
//! that table. (Tokens themselves: [`crate::auth::keys::link_token`].)

/// `managed(caller)`, `record(work, action, before, after)` and `revoke(writer, id)` for the
/// links kept in `$table`, read as `$row` and answered as `$link` (which is `From<$row>` and has
/// `id` and `version`); `$kind` names them in the audit log (`reportLink`) and `$noun` in a
/// 404 (`Report link`). Written inside the module of that kind of link.
#[macro_export]
macro_rules! link_management {
    ($table:ident, $row:ty, $link:ty, $kind:literal, $noun:literal) => {
        /// The links a caller manages: its own, or every link for an administrator.
        fn managed(caller: &$crate::auth::Caller) -> $table::BoxedQuery<'static, diesel::pg::Pg> {
            use diesel::{ExpressionMethods, QueryDsl};
            let q = $table::table.into_boxed();
            if caller.has($crate::auth::Scope::Admin) {
                q
            } else {
                q.filter($table::owner_id.eq(caller.client_id))
            }
        }

        /// The audit entry of a change of a link.
        async fn record(
            work: &mut $crate::integration::work::Work<'_>,
            action: &str,
            before: Option<&$link>,
            after: &$link,
        ) -> Result<(), $crate::error::ApiError> {
            work.record($crate::integration::work::Change {
                action,
                kind: $kind,
                id: &after.id.to_string(),
                before: before.and_then(|l| serde_json::to_value(l).ok()),
                after: serde_json::to_value(after).ok(),
            })
            .await
        }

        /// Revokes the caller's link `id` (an administrator: anyone's): it stops opening at
        /// once, on every replica; revoking a revoked link changes nothing. Answers the link
        /// with its new `ETag`.
        async fn revoke(
            writer: $crate::integration::work::Writer,
            id: uuid::Uuid,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
            use diesel_async::RunQueryDsl;
            let caller = writer.caller.clone();
            let link = writer
                .run(async |work| {
                    let before: $row = $table::table
                        .find(id)
                        .select(<$row>::as_select())
                        .for_update()
                        .first(work.conn())
                        .await
                        .optional()?
                        .filter(|row| {
                            caller.has($crate::auth::Scope::Admin)
                                || row.owner_id == caller.client_id
                        })
                        .ok_or_else(|| {
                            $crate::error::ApiError::not_found(format!(concat!($noun, " {}"), id))
                        })?;
                    if before.revoked_at.is_some() {
                        return Ok(<$link>::from(before));
                    }
                    let after: $row = diesel::update($table::table.find(id))
                        .set((
                            $table::revoked_at.eq(diesel::dsl::now),
                            $table::revoked_by.eq(work.actor().name.clone()),
                        ))
                        .returning(<$row>::as_returning())
                        .get_result(work.conn())
                        .await?;
                    let (before, after) = (<$link>::from(before), <$link>::from(after));
                    record(work, "revoke", Some(&before), &after).await?;
                    Ok(after)
                })
                .await?;
            Ok(actix_web::HttpResponse::Ok()
                .insert_header((
                    actix_web::http::header::ETAG,
                    $crate::http::version_etag(link.version),
                ))
                .json(link))
        }
    };
}
