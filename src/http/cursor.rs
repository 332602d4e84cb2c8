//! Keyset paging: the `after` cursor of a list and its `_meta.nextCursor`.
//!
//! A cursor names the last item of a page by the values of the list's sort keys and its `id`,
//! so the next page starts right after it in the index that serves the order: every page costs
//! what the first does, however deep. It is made for one `sort` (a cursor of another order is
//! refused) and signed with the replicas' shared link key, so that its values are always ones
//! this service wrote: a client cannot alter it, and any replica accepts it. It holds no
//! filters: the same filters are sent with each page, as with `page`.
//!
//! The values travel as the API's JSON writes them and are read back by PostgreSQL with the
//! table's own row type (`jsonb_populate_record`), so each is compared as its column's type.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::error::ApiError;
use crate::http::list::{SortField, SortKey};

const TAG_BYTES: usize = 16;
/// Longer `after` values are refused unread.
pub const MAX_LENGTH: usize = 2048;

/// One key of a keyset order: the column, its direction, and whether its NULLs sort last
/// (a nullable column; the others are `NOT NULL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyColumn {
    pub json: &'static str,
    pub column: &'static str,
    pub descending: bool,
    pub nullable: bool,
    /// The tie-breaker `id`, which the order implies rather than `sort` names.
    pub implied: bool,
}

/// The keys of an order: the sort keys, then `id` (every list breaks ties by it) in the
/// direction of the last key.
pub fn key_columns<F: SortField>(sort: &[SortKey<F>]) -> Vec<KeyColumn> {
    let mut keys: Vec<KeyColumn> = sort
        .iter()
        .map(|k| KeyColumn {
            json: k.field.name(),
            column: k.field.column(),
            descending: k.descending,
            nullable: k.field.nulls_last(),
            implied: false,
        })
        .collect();
    if !keys.iter().any(|k| k.column == "id") {
        keys.push(KeyColumn {
            json: "id",
            column: "id",
            descending: keys.last().is_some_and(|k| k.descending),
            nullable: false,
            implied: true,
        });
    }
    keys
}

/// The order as `sort` writes it (`-createdAt`): what a cursor is made for.
pub fn signature(keys: &[KeyColumn]) -> String {
    keys.iter()
        .filter(|k| !k.implied)
        .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.json))
        .collect::<Vec<_>>()
        .join(",")
}

fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        unreachable!("HMAC takes a key of any length");
    });
    mac.update(b"list-cursor\0");
    mac
}

/// The cursor after `item` (the API's JSON of a page's last item) in the order `keys`, or
/// `None` if the item lacks one of the keys.
pub fn after_item(link_key: &[u8; 32], keys: &[KeyColumn], item: &Value) -> Option<String> {
    let mut values = Map::new();
    for k in keys {
        values.insert(k.column.to_owned(), item.get(k.json)?.clone());
    }
    let body =
        serde_json::to_vec(&serde_json::json!({ "s": signature(keys), "k": values })).ok()?;
    let mut mac = mac(link_key);
    mac.update(&body);
    let tag = mac.finalize().into_bytes();
    Some(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
    ))
}

/// The key cursors are signed with: the replicas' shared link key.
pub fn key_of(req: &actix_web::HttpRequest) -> Result<[u8; 32], ApiError> {
    req.app_data::<actix_web::web::Data<crate::auth::Authenticator>>()
        .map(|auth| auth.keys().link_key)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authenticator configured")))
}

/// `_meta.nextCursor` of a page of `items`: after its last item when the page is full (there
/// may be more), else none.
pub fn next<T: serde::Serialize>(
    link_key: &[u8; 32],
    keys: &[KeyColumn],
    paging: &crate::http::list::Paging,
    items: &[T],
) -> Option<String> {
    if items.len() < paging.limit as usize {
        return None;
    }
    let last = serde_json::to_value(items.last()?).ok()?;
    let cursor = after_item(link_key, keys, &last);
    if cursor.is_none() {
        tracing::warn!(keys = %signature(keys), "a page's last item lacks a sort key: no nextCursor");
    }
    cursor
}

fn refused(message: &str) -> ApiError {
    ApiError::invalid("after", message)
}

/// The key values of an `after` cursor, if this service made it for the order `keys`.
pub fn read(
    link_key: &[u8; 32],
    keys: &[KeyColumn],
    raw: &str,
) -> Result<Map<String, Value>, ApiError> {
    let unknown =
        "is not a cursor of this list: pass `_meta.nextCursor` of the previous page unchanged";
    if raw.len() > MAX_LENGTH {
        return Err(refused(unknown));
    }
    let (body, tag) = raw.split_once('.').ok_or_else(|| refused(unknown))?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| refused(unknown))?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused(unknown))?;
    let mut mac = mac(link_key);
    mac.update(&body);
    mac.verify_truncated_left(&tag)
        .map_err(|_| refused(unknown))?;
    let Ok(Value::Object(mut cursor)) = serde_json::from_slice::<Value>(&body) else {
        return Err(refused(unknown));
    };
    let made_for = cursor.get("s").and_then(Value::as_str).unwrap_or_default();
    let wanted = signature(keys);
    if made_for != wanted {
        return Err(refused(&format!(
            "was made for sort={made_for}, not sort={wanted}: send the sort of the page it came from"
        )));
    }
    match cursor.remove("k") {
        Some(Value::Object(values)) if keys.iter().all(|k| values.contains_key(k.column)) => {
            Ok(values)
        }
        _ => Err(refused(unknown)),
    }
}

/// A string literal of `text` for SQL (standard strings: quotes doubled; the text is a verified
/// cursor, so never a client's own).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL condition "after the cursor" on `table` in the order `keys`: strictly after in the
/// first key that differs, with `id` last. An order in one direction without nullable keys is
/// one row comparison, `(created_at, id) < (…, …)`, which the order's index starts its scan at,
/// however many rows share a `created_at` (a bulk load's rows all do). Otherwise the keys are
/// compared one by one, and the first, when it is `NOT NULL`, also bounds the scan.
pub fn condition(table: &str, keys: &[KeyColumn], values: &Map<String, Value>) -> String {
    let record = format!(
        "jsonb_populate_record(NULL::{table}, {}::jsonb)",
        literal(&Value::Object(values.clone()).to_string())
    );
    let ours = |k: &KeyColumn| format!("{table}.\"{}\"", k.column);
    let theirs = |k: &KeyColumn| format!("({record}).\"{}\"", k.column);
    let descending = keys.first().is_some_and(|k| k.descending);
    if keys
        .iter()
        .all(|k| !k.nullable && k.descending == descending)
    {
        let list = |side: &dyn Fn(&KeyColumn) -> String| {
            keys.iter().map(side).collect::<Vec<_>>().join(", ")
        };
        return format!(
            "({}) {} ({})",
            list(&ours),
            if descending { "<" } else { ">" },
            list(&theirs)
        );
    }
    let strictly = |k: &KeyColumn| {
        let op = if k.descending { "<" } else { ">" };
        if k.nullable {
            // NULLs sort last: after a value come the greater (or lesser) values and the NULLs;
            // after a NULL only NULLs, which are equal.
            format!(
                "({v} IS NOT NULL AND ({c} {op} {v} OR {c} IS NULL))",
                c = ours(k),
                v = theirs(k)
            )
        } else {
            format!("{} {op} {}", ours(k), theirs(k))
        }
    };
    let equal = |k: &KeyColumn| {
        if k.nullable {
            format!("{} IS NOT DISTINCT FROM {}", ours(k), theirs(k))
        } else {
            format!("{} = {}", ours(k), theirs(k))
        }
    };
    let mut after = String::new();
    for (i, k) in keys.iter().enumerate().rev() {
        after = if i == keys.len() - 1 {
            strictly(k)
        } else {
            format!("({} OR ({} AND {after}))", strictly(k), equal(k))
        };
    }
    match keys.first() {
        Some(first) if !first.nullable => {
            let op = if first.descending { "<=" } else { ">=" };
            format!("({} {op} {} AND {after})", ours(first), theirs(first))
        }
        _ => after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<KeyColumn> {
        vec![
            KeyColumn {
                json: "createdAt",
                column: "created_at",
                descending: true,
                nullable: false,
                implied: false,
            },
            KeyColumn {
                json: "id",
                column: "id",
                descending: false,
                nullable: false,
                implied: true,
            },
        ]
    }

    #[test]
    fn a_cursor_reads_back_only_unaltered_and_for_its_order() {
        let key = [7u8; 32];
        let item = serde_json::json!({"id": "a", "createdAt": "2026-12-06T10:00:00Z", "x": 1});
        let cursor = after_item(&key, &keys(), &item).expect("cursor");
        let values = read(&key, &keys(), &cursor).expect("reads back");
        assert_eq!(values["created_at"], "2026-12-06T10:00:00Z");
        assert!(read(&[8u8; 32], &keys(), &cursor).is_err(), "another key");
        let mut altered = cursor.clone().into_bytes();
        altered[3] ^= 1;
        assert!(read(&key, &keys(), &String::from_utf8_lossy(&altered)).is_err());
        let ascending = vec![KeyColumn {
            descending: false,
            ..keys()[0]
        }];
        let err = read(&key, &ascending, &cursor).expect_err("another order");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        assert!(
            v[0].message
                .contains("made for sort=-createdAt, not sort=createdAt"),
            "{}",
            v[0].message
        );
        assert!(read(&key, &keys(), "garbage").is_err());
        assert!(read(&key, &keys(), &"a.".repeat(2000)).is_err());
    }

    #[test]
    fn one_direction_is_a_row_comparison_and_mixed_ones_compare_key_by_key() {
        let mut values = Map::new();
        values.insert("created_at".into(), "2026-12-06T10:00:00Z".into());
        values.insert("id".into(), "it's".into());
        let sql = condition("feedback", &keys(), &values);
        assert!(
            sql.starts_with(
                "(feedback.\"created_at\" <= (jsonb_populate_record(NULL::feedback, '{"
            )
        );
        assert!(sql.contains("it''s"), "quotes doubled: {sql}");
        assert!(sql.contains("feedback.\"created_at\" < ("));
        assert!(sql.contains("feedback.\"id\" > ("));
        let mut same = keys();
        same[1].descending = true;
        let sql = condition("feedback", &same, &values);
        assert!(
            sql.starts_with(
                "(feedback.\"created_at\", feedback.\"id\") < ((jsonb_populate_record("
            ),
            "{sql}"
        );
    }
}
