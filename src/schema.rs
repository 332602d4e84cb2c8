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

diesel::table! {
    api_clients (id) {
        id -> Uuid,
        name -> Text,
        scopes -> Array<Text>,
        municipality_id -> Nullable<Text>,
        secret_hash -> Text,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        client_id -> Nullable<Uuid>,
        actor -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    rate_limit_windows (bucket, window_start) {
        bucket -> Text,
        window_start -> Timestamptz,
        hits -> Int4,
    }
}

diesel::joinable!(api_clients -> municipalities (municipality_id));

diesel::allow_tables_to_appear_in_same_query!(
    municipalities,
    areas,
    plans,
    plan_goals,
    api_clients,
    audit_log,
    rate_limit_windows,
);
