// @generated-style diesel table definitions; kept in step with `migrations/` (checked by the
// `schema_matches_database` test).

diesel::table! {
    municipalities (id) {
        id -> Text,
        name -> Text,
        official_name -> Text,
        county_code -> Text,
        organisation_number -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    areas (id) {
        id -> Uuid,
        name -> Text,
        description -> Text,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    plans (year) {
        year -> Int4,
        title -> Text,
        vision -> Text,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    plan_goals (year, challenge) {
        year -> Int4,
        challenge -> Text,
        name -> Text,
        theme -> Nullable<Text>,
        statement -> Text,
    }
}

diesel::joinable!(plan_goals -> plans (year));

diesel::allow_tables_to_appear_in_same_query!(municipalities, areas, plans, plan_goals);
