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

diesel::table! {
    networks (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        area_id -> Nullable<Uuid>,
        description -> Text,
        municipality_ids -> Array<Text>,
        coordinator -> Nullable<Text>,
        status -> Text,
        external_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    network_members (id) {
        id -> Uuid,
        network_id -> Uuid,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        title -> Nullable<Text>,
        municipality_id -> Nullable<Text>,
        external_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assignments (id) {
        id -> Uuid,
        title -> Text,
        description -> Text,
        municipality_ids -> Array<Text>,
        area_id -> Uuid,
        challenge -> Nullable<Text>,
        funding_type -> Text,
        funder -> Nullable<Text>,
        budget_sek -> Int8,
        partners -> Array<Text>,
        start_date -> Nullable<Date>,
        end_date -> Nullable<Date>,
        responsible -> Nullable<Text>,
        status -> Text,
        external_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assignment_status_history (id) {
        id -> Int8,
        assignment_id -> Uuid,
        status -> Text,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    progress_reports (id) {
        id -> Uuid,
        assignment_id -> Uuid,
        year -> Int4,
        tertial -> Int2,
        summary -> Text,
        spent_sek -> Int8,
        forecast_sek -> Int8,
        deviation -> Text,
        deviation_note -> Nullable<Text>,
        external_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    feedback (id) {
        id -> Uuid,
        year -> Int4,
        goal -> Text,
        network_id -> Uuid,
        municipality_id -> Nullable<Text>,
        rating -> Int2,
        comment -> Text,
        suggestions -> Jsonb,
        external_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_clients -> municipalities (municipality_id));
diesel::joinable!(network_members -> networks (network_id));
diesel::joinable!(progress_reports -> assignments (assignment_id));
diesel::joinable!(feedback -> networks (network_id));
diesel::joinable!(assignments -> areas (area_id));

diesel::allow_tables_to_appear_in_same_query!(
    municipalities,
    areas,
    plans,
    plan_goals,
    api_clients,
    audit_log,
    rate_limit_windows,
    networks,
    network_members,
    assignments,
    assignment_status_history,
    progress_reports,
    feedback,
);
