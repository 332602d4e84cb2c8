//! The unit of work: every write runs in one, and nothing else may write.
//!
//! A [`Work`] holds one pooled connection inside one transaction, who is writing ([`Actor`]) and
//! the request's `Idempotency-Key`, if it has one. [`Work::record`] writes a change's audit
//! entry; [`Work::run`] commits once, after marking the key's effect in the same transaction, so
//! a retry of a request whose write committed can never write again, and a write whose key was
//! taken over by a retry (its lease lost) rolls back instead of happening twice.
//!
//! Handlers take a [`Writer`] (the caller, the pool and the key) and call [`Writer::run`].

use actix_web::{FromRequest, HttpMessage, HttpRequest};
use diesel::{OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::integration::audit::{self, Actor};
use crate::integration::idempotency::{self, IdempotencyKey};
use crate::store::db::{Db, PgConn};
use crate::store::schema::api_clients;

/// One change, as the audit log records it.
#[derive(Debug)]
pub struct Change<'a> {
    /// `create`, `update`, `delete`, `transition`, `erase`, `import`, …
    pub action: &'a str,
    /// The resource's kind (`area`, `feedback`, …).
    pub kind: &'a str,
    pub id: &'a str,
    /// The resource before the change, personal data redacted; `None` for a creation.
    pub before: Option<serde_json::Value>,
    /// The resource after the change, personal data redacted; `None` for a deletion.
    pub after: Option<serde_json::Value>,
}

/// An open transaction with the writer's identity and idempotency key.
pub struct Work<'c> {
    conn: &'c mut AsyncPgConnection,
    actor: Actor,
    /// The API client writing; `None` for an administrator at the server's command line, who
    /// acts for the association.
    caller: Option<Caller>,
    key: Option<IdempotencyKey>,
    /// The first resource this work changed (`area 6b1f…`), for the idempotency record.
    effect: Option<String>,
}

impl<'c> Work<'c> {
    /// Runs `body` in one transaction on a connection of the pool: commits when it returns
    /// `Ok` (after marking the idempotency key's effect, if anything was recorded), rolls back
    /// when it returns `Err`.
    pub async fn run<T>(
        db: &Db,
        actor: Actor,
        caller: Option<Caller>,
        key: Option<IdempotencyKey>,
        body: impl AsyncFnOnce(&mut Work<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn: PgConn = db.conn().await?;
        Work::run_on(&mut conn, actor, caller, key, body).await
    }

    /// [`Work::run`] on a connection the caller holds (one with session state, such as the
    /// importer's staging table).
    pub async fn run_on<T>(
        conn: &'c mut AsyncPgConnection,
        actor: Actor,
        caller: Option<Caller>,
        key: Option<IdempotencyKey>,
        body: impl AsyncFnOnce(&mut Work<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        AnsiTransactionManager::begin_transaction(&mut *conn).await?;
        let mut work = Work {
            conn,
            actor,
            caller,
            key,
            effect: None,
        };
        let outcome = match body(&mut work).await {
            Ok(value) => work.commit().await.map(|()| value),
            Err(e) => Err(e),
        };
        if outcome.is_err() {
            // A connection whose rollback fails is left in a transaction; the pool discards
            // such a connection instead of handing it out again, and the server rolls back.
            if let Err(e) = AnsiTransactionManager::rollback_transaction(work.conn).await {
                tracing::warn!(error = %e, "rollback failed; the connection is discarded");
            }
        }
        outcome
    }

    async fn commit(&mut self) -> Result<(), ApiError> {
        if let (Some(key), Some(resource)) = (&self.key, &self.effect) {
            idempotency::mark_effect(self.conn, key, resource).await?;
        }
        AnsiTransactionManager::commit_transaction(self.conn).await?;
        Ok(())
    }

    /// The transaction's connection, for the work's reads and writes.
    pub fn conn(&mut self) -> &mut AsyncPgConnection {
        self.conn
    }

    /// Who is writing.
    /// Who shares a link, as the pages it opens name them: the person, or the client (and on
    /// whose behalf it acts, from `X-Sent-By`).
    pub async fn sharer(&mut self) -> Result<String, ApiError> {
        let actor = self.actor().clone();
        if let Some(person) = &actor.person {
            let name = person.name.as_ref().or(person.username.as_ref());
            return Ok(name.unwrap_or(&person.subject).clone());
        }
        let client = match actor.client_id {
            Some(id) => api_clients::table
                .find(id)
                .select(api_clients::name)
                .first::<String>(self.conn())
                .await
                .optional()?
                .unwrap_or_else(|| actor.name.clone()),
            None => actor.name.clone(),
        };
        let user = actor
            .sent_by
            .as_deref()
            .and_then(|s| s.split_once(';'))
            .map(|(_, user)| user.trim().to_owned());
        Ok(match user {
            Some(user) => format!("{client} ({user})"),
            None => client,
        })
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The municipality binding: a client bound to a municipality may change only records whose
    /// owners are that municipality alone (records with no owner are the association's).
    pub fn bind(&self, owners: &[String]) -> Result<(), ApiError> {
        match &self.caller {
            Some(caller) => caller.may_write_for(owners.iter().map(String::as_str)),
            None => Ok(()),
        }
    }

    /// The API client writing, if not the command line.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// Writes the audit entry of one change, in this transaction.
    pub async fn record(&mut self, change: Change<'_>) -> Result<(), ApiError> {
        audit::record(self.conn, &self.actor, &change).await?;
        if self.effect.is_none() {
            self.effect = Some(format!("{} {}", change.kind, change.id));
        }
        Ok(())
    }
}

/// What a handler that writes takes: the authenticated caller, the pool and the request's
/// idempotency key (set by the idempotency middleware).
pub struct Writer {
    pub caller: Caller,
    db: Db,
    key: Option<IdempotencyKey>,
    /// On whose behalf the client writes (`X-Sent-By`), when it may say so.
    sent_by: Option<String>,
}

/// The `X-Sent-By` header (as Sundsvall's APIs use it: `type=adAccount; anli01`): on whose
/// behalf a client writes. Only a client an administrator allowed to act for its users may
/// send it (403 otherwise); it must be `type=<kind>; <user>`, at most 200 characters.
pub const SENT_BY: &str = "X-Sent-By";

fn sent_by(req: &HttpRequest, caller: &Caller) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(SENT_BY) else {
        return Ok(None);
    };
    if !caller.acts_for_users || caller.person.is_some() {
        return Err(ApiError::Forbidden(
            "This client may not act on behalf of its users (X-Sent-By); an administrator can \
             allow it (actsForUsers)"
                .to_owned(),
        ));
    }
    let text = value.to_str().ok().map(str::trim).unwrap_or_default();
    let well_formed = text.chars().count() <= 200
        && !text.chars().any(char::is_control)
        && text.strip_prefix("type=").is_some_and(|rest| {
            rest.split_once(';').is_some_and(|(kind, user)| {
                !kind.trim().is_empty()
                    && kind.chars().all(|c| c.is_ascii_alphanumeric())
                    && !user.trim().is_empty()
            })
        });
    if !well_formed {
        return Err(ApiError::invalid(
            SENT_BY,
            "must be `type=<kind>; <user>`, e.g. `type=adAccount; anli01`, at most 200 characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

impl Writer {
    /// Runs `body` as one unit of work on behalf of the caller.
    pub async fn run<T>(
        &self,
        body: impl AsyncFnOnce(&mut Work<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn = self.db.conn().await?;
        self.run_on(&mut conn, body).await
    }

    /// [`Writer::run`] on a connection the handler holds.
    pub async fn run_on<T>(
        &self,
        conn: &mut AsyncPgConnection,
        body: impl AsyncFnOnce(&mut Work<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut actor = Actor::from(&self.caller);
        actor.sent_by = self.sent_by.clone();
        let caller = Some(self.caller.clone());
        Work::run_on(conn, actor, caller, self.key.clone(), body).await
    }

    /// The pool, for reads before the work begins.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

impl FromRequest for Writer {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let writer = (|| {
            let caller = Caller::from_request(req, payload).into_inner()?;
            let db = Db::from_request(req, payload).into_inner()?;
            let key = req.extensions().get::<IdempotencyKey>().cloned();
            let sent_by = sent_by(req, &caller)?;
            Ok(Writer {
                caller,
                db,
                key,
                sent_by,
            })
        })();
        std::future::ready(writer)
    }
}
