//! The reference checks that read the database (municipalities and areas exist), and the
//! `text_enum!` macro for enums stored as text. The input rules themselves are in
//! [`crate::rules`].

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::ApiError;
use crate::error::Violations;
use crate::store::schema::{areas, municipalities};

/// Every kommunkod in `ids` names a member municipality.
pub async fn municipalities_exist(
    conn: &mut AsyncPgConnection,
    field: &str,
    ids: &[String],
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = municipalities::table
        .filter(municipalities::id.eq_any(ids))
        .select(municipalities::id)
        .load(conn)
        .await?;
    let mut v = Violations::default();
    for (i, id) in ids.iter().enumerate() {
        if !known.contains(id) {
            let name = if ids.len() == 1 && !field.ends_with('s') {
                field.to_owned()
            } else {
                format!("{field}[{i}]")
            };
            v.push(
                name,
                format!("no member municipality has the kommunkod {id}"),
            );
        }
    }
    v.finish()
}

/// `id` names a collaboration area.
pub async fn area_exists(
    conn: &mut AsyncPgConnection,
    field: &str,
    id: Uuid,
) -> Result<(), ApiError> {
    let known: bool = diesel::select(diesel::dsl::exists(areas::table.find(id)))
        .get_result(conn)
        .await?;
    if known {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("no area has the id {id}")))
    }
}

/// Declares a closed set of values stored as text: serde names, `as_str`, `parse` and `ALL`,
/// and the values' Swedish labels for files (`VOCABULARY`, after each value in brackets, the
/// one exports write first). The texts are the variants' names in snake_case (checked by a
/// unit test of each use).
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal $([$($label:literal),+ $(,)?])?),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The values' Swedish labels, as files may carry them.
            pub const VOCABULARY: $crate::rules::labels::Vocabulary = $crate::rules::labels::Vocabulary {
                name: stringify!($name),
                values: &[$(($text, &[$($($label),+)?])),+],
            };

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

        }

        /// Read from a text column; a value this build does not know is an error, never a
        /// default (the CHECK constraints and this list must agree).
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(value)?;
                Self::parse(&text).ok_or_else(|| {
                    format!("unknown {} value {text:?} in the database", stringify!($name)).into()
                })
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::resources::assignments::{AssignmentStatus, FundingType};
    use crate::resources::feedback::SuggestionKind;
    use crate::resources::networks::{NetworkKind, NetworkStatus};
    use crate::resources::plans::Challenge;
    use crate::resources::progress::Deviation;

    /// serde (and so the OpenAPI document) and the database agree on every text.
    fn same<T: serde::Serialize + Copy>(all: &[T], text: impl Fn(T) -> &'static str) {
        for v in all {
            assert_eq!(
                serde_json::to_value(v).ok(),
                Some(serde_json::Value::from(text(*v)))
            );
        }
    }

    #[test]
    fn enum_texts_match_their_serde_names() {
        same(AssignmentStatus::ALL, AssignmentStatus::as_str);
        same(FundingType::ALL, FundingType::as_str);
        same(NetworkKind::ALL, NetworkKind::as_str);
        same(NetworkStatus::ALL, NetworkStatus::as_str);
        same(Deviation::ALL, Deviation::as_str);
        same(Challenge::ALL, Challenge::as_str);
        same(SuggestionKind::ALL, SuggestionKind::as_str);
    }
}
