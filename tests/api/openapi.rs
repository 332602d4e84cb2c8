//! The OpenAPI document: committed, served, complete.

use crate::support::TestApp;

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed")
}

#[test]
fn the_committed_document_is_current() {
    let generated = samverkan::app::openapi::to_pretty_json(&samverkan::app::openapi::document());
    assert!(
        generated == committed(),
        "openapi/openapi.json is stale: regenerate it with \
         `cargo run -- openapi --output openapi/openapi.json`"
    );
}

#[actix_web::test]
async fn the_served_document_is_the_committed_one() {
    let app = TestApp::new().await;
    let res = app.get("/v1/openapi.json").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.text(), committed());
}

/// An installation's document names where it is reached, who answers for it and its terms
/// under that address (DIGG UFN.02, SAK.01, DOK.03), and the terms page answers without a token.
#[actix_web::test]
async fn an_installation_names_its_address_contact_and_terms() {
    let mut config = crate::support::test_config();
    config.public_url = Some("https://samverkan.kfvn.example".to_owned());
    config.contact.email = Some("api@kfvn.example".to_owned());
    config.contact.url = Some("https://kfvn.example/kontakt".to_owned());
    let app = TestApp::with_config(config).await;
    let doc = app.get("/v1/openapi.json").await.json();
    assert_eq!(
        doc["servers"],
        serde_json::json!([{"url": "https://samverkan.kfvn.example", "description": "This installation"}])
    );
    assert_eq!(
        doc["info"]["contact"],
        serde_json::json!({"name": "Kommunförbundet Västernorrland",
            "email": "api@kfvn.example", "url": "https://kfvn.example/kontakt"})
    );
    assert_eq!(
        doc["info"]["termsOfService"],
        "https://samverkan.kfvn.example/terms"
    );

    let res = app
        .call(actix_web::test::TestRequest::get().uri("/terms"))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let page = res.text().split_whitespace().collect::<Vec<_>>().join(" ");
    for heading in [
        "Användarvillkor",
        "Personuppgifter",
        "Personal data",
        "Stability and versions",
    ] {
        assert!(page.contains(heading), "{heading}");
    }
    // What the terms say of the limits is what the configuration's defaults are.
    let defaults = samverkan::config::Config::from_lookup(|_| None).expect("defaults");
    assert_eq!(defaults.rate_limits.writes_per_minute, 1200);
    assert_eq!(defaults.rate_limits.token_requests_per_minute, 30);
    assert!(page.contains("1 200 writes and 30 token requests a minute"));
    assert!(page.contains("1 200 skrivningar och 30"));
    assert_eq!(defaults.tombstone_retention.as_secs(), 30 * 86_400);
}

#[test]
fn every_operation_is_fully_described() {
    let doc: serde_json::Value = serde_json::from_str(&committed()).expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = std::collections::HashSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 11, "{}", paths.len());
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let at = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: operationId"));
            assert!(
                ids.insert(id.to_owned()),
                "{at}: duplicate operationId {id}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: summary"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{at}: success response"
            );
            for (status, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{at} {status}: description"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    // The token endpoint's 400 and 401 follow RFC 6749 §5.2 (application/json).
                    let media = if path == "/v1/oauth/token" && (status == "400" || status == "401")
                    {
                        "application/json"
                    } else {
                        "application/problem+json"
                    };
                    let content = &response["content"][media];
                    assert!(content.is_object(), "{at} {status}: problem+json");
                    assert!(
                        content["example"].is_object() || content["schema"].is_object(),
                        "{at} {status}: schema or example"
                    );
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().expect("parameter name");
                assert!(param["description"].is_string(), "{at}: {name} description");
                assert!(param["schema"].is_object(), "{at}: {name} schema");
            }
            let is_list =
                path.starts_with("/v1/") && !path.contains('{') && path != "/v1/openapi.json";
            if method == "get" && is_list {
                assert!(responses.contains_key("400"), "{at}: 400");
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // DIGG's REST API profile: every schema with an example (DOK.15), every operation with a
    // description (DOK.19), servers, a licence with its URL, the api-info at /api-info (VER.06).
    for (name, schema) in schemas {
        assert!(
            schema.get("example").is_some() || schema.get("examples").is_some(),
            "schema {name} has no example"
        );
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let described = op["description"].as_str().is_some_and(|d| d.len() > 20);
            assert!(described, "{method} {path} has no description");
        }
    }
    assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(doc["info"]["license"]["url"].is_string());
    assert_eq!(doc["info"]["termsOfService"], "/terms");
    assert!(doc["info"]["contact"]["name"].is_string());
    assert!(doc["paths"]["/api-info"]["get"].is_object());
    assert_eq!(
        doc["info"]["x-profile-deviations"][0]["where"],
        "POST /v1/oauth/token (OAuthError, TokenResponse)",
        "the token endpoint's snake_case is declared an exception"
    );
    // DOK.08: the service level, with the three parts the profile's linter asks for.
    for part in ["availability", "responseTime", "support"] {
        assert!(doc["info"]["x-sla"][part].is_string(), "x-sla.{part}");
    }
    // DOT.02: every date and time member shows its RFC 3339 form.
    for (name, schema) in schemas {
        for (member, property) in schema["properties"].as_object().into_iter().flatten() {
            let example = property["example"].as_str();
            match property["format"].as_str() {
                Some("date-time") => assert!(
                    example.is_some_and(|e| samverkan::rules::dates::parse_instant(e).is_ok()),
                    "{name}.{member}: {example:?}"
                ),
                Some("date") => assert!(
                    example.is_some_and(|e| samverkan::rules::dates::parse_date(e).is_ok()),
                    "{name}.{member}: {example:?}"
                ),
                _ => {}
            }
        }
    }
    // DOK.15: every JSON answer has an example, in its content or its schema.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                let Some(json) = response["content"].get("application/json") else {
                    continue;
                };
                let schema = &json["schema"];
                let referenced = schema["$ref"]
                    .as_str()
                    .or(schema["items"]["$ref"].as_str())
                    .and_then(|r| r.rsplit('/').next())
                    .is_some_and(|n| schemas[n].get("example").is_some());
                assert!(
                    json.get("example").is_some()
                        || json.get("examples").is_some()
                        || schema.get("example").is_some()
                        || referenced,
                    "{method} {path} {status}: a JSON answer without an example"
                );
            }
        }
    }
    for name in [
        "Problem",
        "Violation",
        "Municipality",
        "Area",
        "Plan",
        "PageMeta",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
        assert!(
            schemas[name]["example"].is_object(),
            "schema {name} has an example"
        );
    }
}

/// Every `sort` parameter's pattern names exactly the keys the server sorts by: each documented
/// key is accepted, and the server's list of sortable fields (in its 400) is the documented one.
#[actix_web::test]
async fn sort_patterns_list_exactly_the_sortable_fields() {
    let doc: serde_json::Value = serde_json::from_str(&committed()).expect("the document is JSON");
    let app = TestApp::new().await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(params) = item["get"]["parameters"].as_array() else {
            continue;
        };
        let Some(sort) = params.iter().find(|p| p["name"] == "sort") else {
            continue;
        };
        let pattern = sort["schema"]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: sort has no pattern"));
        let alternatives = pattern
            .strip_prefix("^[-+]?(")
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{path}: unexpected pattern {pattern}"));
        let mut documented: Vec<&str> = alternatives.split('|').collect();
        for key in &documented {
            let res = app.get(&format!("{path}?sort=-{key}")).await;
            assert_eq!(res.status, 200, "{path}?sort=-{key}: {}", res.text());
        }
        let p = app
            .get(&format!("{path}?sort=noSuchField"))
            .await
            .problem(400, "validation-failed");
        let message = p["violations"][0]["message"].as_str().expect("message");
        let listed = message
            .split("sortable fields: ")
            .nth(1)
            .and_then(|rest| rest.split(" (").next())
            .unwrap_or_else(|| panic!("{path}: {message}"));
        let mut served: Vec<&str> = listed.split(", ").collect();
        documented.sort_unstable();
        served.sort_unstable();
        assert_eq!(documented, served, "{path}");
        checked += 1;
    }
    assert!(checked >= 6, "{checked} sortable lists");
}

/// Every `$ref` of the document names a schema it defines.
#[test]
fn every_reference_resolves() {
    let doc: serde_json::Value = serde_json::from_str(&committed()).expect("the document is JSON");
    fn walk(v: &serde_json::Value, refs: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    refs.push(r.to_owned());
                }
                m.values().for_each(|v| walk(v, refs));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("an unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} is not defined"
        );
    }
}
