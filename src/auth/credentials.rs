//! Client credentials: secrets are stored only as argon2id hashes and checked with bounded
//! concurrency, taking as long for an unknown client as for a known one.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::RngCore;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::store::db::Db;
use crate::store::schema::api_clients;

/// id, scopes, municipality, disabled at, secret hash.
type Stored = (
    Uuid,
    Vec<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    String,
    bool,
);

/// At most this many secret checks run at once (each needs ~19 MiB and tens of milliseconds).
pub static HASHING: Semaphore = Semaphore::const_new(2);

/// Checked against when the client id is unknown, so that unknown and known ids take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_secret("not-a-real-secret"));

pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

fn secret_matches(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client whose secret checked out.
#[derive(Debug, Clone)]
pub struct VerifiedClient {
    pub id: Uuid,
    pub scopes: Vec<Scope>,
    pub municipality_id: Option<String>,
    pub acts_for_users: bool,
}

/// Checks a client id and secret. `None` for an unknown id, a wrong secret or a disabled client,
/// after the same amount of work in each case.
pub async fn verify(
    db: &Db,
    client_id: &str,
    secret: &str,
) -> Result<Option<VerifiedClient>, ApiError> {
    let row = match Uuid::parse_str(client_id) {
        Ok(id) => {
            let mut conn = db.conn().await?;
            api_clients::table
                .find(id)
                .select((
                    api_clients::id,
                    api_clients::scopes,
                    api_clients::municipality_id,
                    api_clients::disabled_at,
                    api_clients::secret_hash,
                    api_clients::acts_for_users,
                ))
                .first::<Stored>(&mut conn)
                .await
                .optional()?
        }
        Err(_) => None,
    };
    let hash = row
        .as_ref()
        .map(|r| r.4.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let secret = secret.to_owned();
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing semaphore closed: {e}")))?;
    let matches = tokio::task::spawn_blocking(move || secret_matches(&secret, &hash))
        .await
        .map_err(ApiError::internal)?;
    Ok(match row {
        Some((id, scopes, municipality_id, None, _, acts_for_users)) if matches => {
            Some(VerifiedClient {
                id,
                scopes: Scope::from_stored(&scopes),
                municipality_id,
                acts_for_users,
            })
        }
        _ => None,
    })
}
