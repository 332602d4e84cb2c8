//! Authentication and authorization: the token endpoint, the JWKS, every kind of bad token, the
//! scope of every operation, municipality binding, the audit log and abuse limits.

use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use samverkan::auth::Scope;
use serde_json::json;

use crate::support::{TEST_KID, TestApp, signing_key, test_config, violation_fields};

const DIGITALISERING: &str = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(client: uuid::Uuid) -> serde_json::Value {
    json!({
        "iss": "samverkan", "aud": "samverkan-api", "sub": client.to_string(),
        "client_id": client.to_string(), "scope": "read",
        "iat": now(), "nbf": now(), "exp": now() + 600, "jti": uuid::Uuid::new_v4().to_string()
    })
}

fn ed25519_pkcs8(key: &ed25519_dalek::SigningKey) -> EncodingKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    EncodingKey::from_ed_der(key.to_pkcs8_der().expect("der").as_bytes())
}

fn sign(header: Header, claims: &serde_json::Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn our_header() -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".to_owned());
    h.kid = Some(TEST_KID.to_owned());
    h
}

fn unsigned(header: serde_json::Value, claims: &serde_json::Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[actix_web::test]
async fn bad_tokens_are_401_problems() {
    let app = TestApp::new().await;
    let (client, _) = app.client(&[Scope::Read], None).await;
    let key = ed25519_pkcs8(signing_key());
    let good = sign(our_header(), &claims(client), &key);
    // The control: a good token works.
    let ok = app
        .call_as(&good, TestRequest::get().uri("/v1/municipalities"))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(client);
        edit(&mut c);
        sign(our_header(), &c, &key)
    };
    let public_key = signing_key().verifying_key();
    let other_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let mut wrong_typ = our_header();
    wrong_typ.typ = Some("JWT".to_owned());
    let mut no_typ = our_header();
    no_typ.typ = None;
    let mut unknown_kid = our_header();
    unknown_kid.kid = Some("who-knows".to_owned());
    let mut no_kid = our_header();
    no_kid.kid = None;
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.typ = Some("at+jwt".to_owned());
    hs256.kid = Some(TEST_KID.to_owned());

    let (disabled, _) = app.client(&[Scope::Read], None).await;
    let disabled_token = sign(our_header(), &claims(disabled), &key);
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
            &app.db.url,
        )
        .await
        .expect("connect"),
        &format!("UPDATE api_clients SET disabled_at = now() WHERE id = '{disabled}'"),
    )
    .await
    .expect("disable");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("Bearer not.a.jwt".to_owned())),
        ("wrong scheme", Some(format!("Basic {good}"))),
        (
            "alg none",
            Some(format!(
                "Bearer {}",
                unsigned(
                    json!({"alg": "none", "typ": "at+jwt", "kid": TEST_KID}),
                    &claims(client)
                )
            )),
        ),
        (
            "HS256 with the public key as secret",
            Some(format!(
                "Bearer {}",
                sign(
                    hs256,
                    &claims(client),
                    &EncodingKey::from_secret(public_key.as_bytes())
                )
            )),
        ),
        (
            "wrong signature",
            Some(format!(
                "Bearer {}",
                sign(our_header(), &claims(client), &ed25519_pkcs8(&other_key))
            )),
        ),
        (
            "tampered claims",
            Some(format!("Bearer {}", {
                let parts: Vec<&str> = good.split('.').collect();
                let mut c = claims(client);
                c["scope"] = json!("read write admin");
                format!(
                    "{}.{}.{}",
                    parts[0],
                    URL_SAFE_NO_PAD.encode(c.to_string()),
                    parts[2]
                )
            })),
        ),
        (
            "unknown kid",
            Some(format!(
                "Bearer {}",
                sign(unknown_kid, &claims(client), &key)
            )),
        ),
        (
            "no kid",
            Some(format!("Bearer {}", sign(no_kid, &claims(client), &key))),
        ),
        (
            "expired beyond leeway",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c["exp"] = json!(now() - 120);
                    c["iat"] = json!(now() - 1000);
                    c["nbf"] = json!(now() - 1000);
                })
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                with(&|c| c["nbf"] = json!(now() + 120))
            )),
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                with(&|c| c["iss"] = json!("someone-else"))
            )),
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                with(&|c| c["aud"] = json!("another-api"))
            )),
        ),
        (
            "missing aud",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c.as_object_mut().map(|o| o.remove("aud"));
                })
            )),
        ),
        (
            "missing exp",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c.as_object_mut().map(|o| o.remove("exp"));
                })
            )),
        ),
        (
            "missing nbf",
            Some(format!(
                "Bearer {}",
                with(&|c| {
                    c.as_object_mut().map(|o| o.remove("nbf"));
                })
            )),
        ),
        (
            "exp as a string",
            Some(format!(
                "Bearer {}",
                with(&|c| c["exp"] = json!((now() + 600).to_string()))
            )),
        ),
        (
            "wrong typ",
            Some(format!("Bearer {}", sign(wrong_typ, &claims(client), &key))),
        ),
        (
            "no typ",
            Some(format!("Bearer {}", sign(no_typ, &claims(client), &key))),
        ),
        (
            "unknown client",
            Some(format!(
                "Bearer {}",
                sign(our_header(), &claims(uuid::Uuid::new_v4()), &key)
            )),
        ),
        ("disabled client", Some(format!("Bearer {disabled_token}"))),
    ];
    for (name, authorization) in cases {
        let mut req = TestRequest::get().uri("/v1/municipalities");
        if let Some(a) = &authorization {
            req = req.insert_header(("Authorization", a.clone()));
        }
        let res = app.call(req).await;
        assert_eq!(res.status, 401, "{name}: {}", res.text());
        res.problem(401, "unauthorized");
        let challenge = res.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"samverkan\""),
            "{name}: {challenge}"
        );
        // RFC 6750 §3.1: no error code for a request that sent no credentials.
        let sent_a_token = authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len());
        if !sent_a_token {
            assert!(!challenge.contains("error="), "{name}: {challenge}");
        } else {
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "{name}: {challenge}"
            );
        }
    }

    // Within the 30 s leeway an expired token still works.
    let lenient = with(&|c| c["exp"] = json!(now() - 10));
    let res = app
        .call_as(&lenient, TestRequest::get().uri("/v1/municipalities"))
        .await;
    assert_eq!(res.status, 200);
}

/// A token request with a form body.
fn token_form(body: &str) -> TestRequest {
    TestRequest::post()
        .uri("/v1/oauth/token")
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

/// An app with a `read write` client bound to Sundsvall: its id, secret and Basic credentials.
async fn token_client() -> (TestApp, uuid::Uuid, String, String) {
    let app = TestApp::new().await;
    let (id, secret) = app.client(&[Scope::Read, Scope::Write], Some("2281")).await;
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    (app, id, secret, basic)
}

/// HTTP Basic credentials get a `Bearer` token (RFC 6749 §4.4) that verifies against the
/// published JWKS with any JWT library, and that the API accepts.
#[actix_web::test]
async fn client_credentials_get_a_token_that_verifies_with_the_jwks() {
    let (app, id, _, basic) = token_client().await;
    let res = app
        .call(
            token_form("grant_type=client_credentials")
                .insert_header(("Authorization", basic.clone())),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read write");
    let access = body["access_token"].as_str().expect("token").to_owned();

    // The token verifies against the published JWKS, independently of the service's code.
    let jwks = app
        .call(TestRequest::get().uri("/.well-known/jwks.json"))
        .await
        .json();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).expect("jwk");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let header = jsonwebtoken::decode_header(&access).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str());
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["samverkan-api"]);
    validation.set_issuer(&["samverkan"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &access,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
        &validation,
    )
    .expect("the token verifies with the JWKS");
    let c = data.claims;
    assert_eq!(c["sub"], id.to_string());
    assert_eq!(c["client_id"], id.to_string());
    assert_eq!(c["municipality_id"], "2281");
    assert_eq!(
        c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat"),
        900
    );
    assert!(c["jti"].is_string() && c["nbf"].is_i64());

    let res = app
        .call_as(&access, TestRequest::get().uri("/v1/municipalities/2281"))
        .await;
    assert_eq!(res.status, 200);
}

/// The credentials may come as form fields instead, and a client may ask for fewer scopes.
#[actix_web::test]
async fn form_credentials_and_narrowed_scopes_are_accepted() {
    let (app, id, secret, _) = token_client().await;
    let res = app
        .call(token_form(&format!(
            "grant_type=client_credentials&scope=read&client_id={id}&client_secret={secret}"
        )))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["scope"], "read");
}

/// Every refusal is an RFC 6749 §5.2 error: its status, its `error` code, `no-store`, and a Basic
/// challenge on 401.
#[actix_web::test]
async fn token_errors_follow_rfc_6749() {
    let (app, id, secret, basic) = token_client().await;
    let wrong = format!("Basic {}", STANDARD.encode(format!("{id}:not-the-secret")));
    let unknown = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{secret}", uuid::Uuid::new_v4()))
    );
    for (name, req, status, error) in [
        (
            "wrong secret",
            token_form("grant_type=client_credentials").insert_header(("Authorization", wrong)),
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            token_form("grant_type=client_credentials").insert_header(("Authorization", unknown)),
            401,
            "invalid_client",
        ),
        (
            "no credentials",
            token_form("grant_type=client_credentials"),
            401,
            "invalid_client",
        ),
        (
            "two methods",
            token_form(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            ))
            .insert_header(("Authorization", basic.clone())),
            400,
            "invalid_request",
        ),
        (
            "no grant type",
            token_form("").insert_header(("Authorization", basic.clone())),
            400,
            "invalid_request",
        ),
        (
            "password grant",
            token_form("grant_type=password").insert_header(("Authorization", basic.clone())),
            400,
            "unsupported_grant_type",
        ),
        (
            "scope beyond the client's",
            token_form("grant_type=client_credentials&scope=admin")
                .insert_header(("Authorization", basic.clone())),
            400,
            "invalid_scope",
        ),
        (
            "unknown scope",
            token_form("grant_type=client_credentials&scope=root")
                .insert_header(("Authorization", basic.clone())),
            400,
            "invalid_scope",
        ),
        (
            "JSON body",
            TestRequest::post()
                .uri("/v1/oauth/token")
                .insert_header(("Authorization", basic.clone()))
                .set_json(json!({"grant_type": "client_credentials"})),
            400,
            "invalid_request",
        ),
    ] {
        let res = app.call(req).await;
        assert_eq!(res.status, status, "{name}: {}", res.text());
        assert_eq!(
            res.header("content-type"),
            Some("application/json"),
            "{name}"
        );
        assert_eq!(res.header("cache-control"), Some("no-store"), "{name}");
        let body = res.json();
        assert_eq!(body["error"], error, "{name}: {body}");
        assert!(body["error_description"].is_string(), "{name}");
        if status == 401 {
            assert_eq!(
                res.header("www-authenticate"),
                Some("Basic realm=\"samverkan\""),
                "{name}"
            );
        }
    }
}

/// A disabled client gets no token, and the tokens it has stop working.
#[actix_web::test]
async fn a_disabled_client_gets_no_token_and_its_tokens_stop_working() {
    let (app, client, _, basic) = token_client().await;
    let res = app
        .call(
            token_form("grant_type=client_credentials")
                .insert_header(("Authorization", basic.clone())),
        )
        .await;
    let access = res.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let before = app
        .call_as(&access, TestRequest::get().uri("/v1/municipalities"))
        .await;
    assert_eq!(before.status, 200);
    app.call_as(
        &app.token(&[Scope::Admin], None).await,
        TestRequest::post().uri(&format!("/v1/clients/{client}/disable")),
    )
    .await;
    let res = app
        .call(token_form("grant_type=client_credentials").insert_header(("Authorization", basic)))
        .await;
    assert_eq!(res.status, 401);
    // …and its tokens stop working.
    let res = app
        .call_as(&access, TestRequest::get().uri("/v1/municipalities"))
        .await;
    assert_eq!(res.status, 401);
}

/// A request for every operation of the document, with its path parameters filled in.
pub(crate) fn sample_requests(
    doc: &serde_json::Value,
    client: uuid::Uuid,
) -> Vec<(String, String, Option<Vec<String>>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let uri = path
                .replace("{municipalityId}", "2281")
                .replace("{year}", "2022")
                .replace(
                    "{id}",
                    if path.starts_with("/v1/clients") {
                        "CLIENT"
                    } else {
                        DIGITALISERING
                    },
                )
                .replace("CLIENT", &client.to_string());
            let scopes_of = |scheme: &str| {
                op["security"].as_array().map(|reqs| {
                    reqs.iter()
                        .filter_map(|r| r[scheme].as_array())
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
            };
            let scopes = scopes_of("clientCredentials");
            // A person's token (OpenID Connect) is the other way in, with the same scopes.
            assert_eq!(scopes, scopes_of("openIdConnect"), "{method} {path}");
            out.push((method.to_uppercase(), uri, scopes));
        }
    }
    out
}

pub(crate) fn request(method: &str, uri: &str) -> TestRequest {
    let req = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PUT" => TestRequest::put(),
        "PATCH" => TestRequest::patch(),
        "DELETE" => TestRequest::delete(),
        other => panic!("unexpected method {other}"),
    };
    req.uri(uri)
}

#[actix_web::test]
async fn every_operation_enforces_the_scope_it_declares() {
    let app = TestApp::new().await;
    let doc = app
        .call(TestRequest::get().uri("/v1/openapi.json"))
        .await
        .json();
    let (target, _) = app.client(&[Scope::Read], None).await;
    let public: Vec<&str> = vec![
        "/v1",
        "/v1/openapi.json",
        "/v1/oauth/token",
        "/.well-known/jwks.json",
        "/health/live",
        "/health/ready",
        "/v1/shared/{token}",
        "/v1/calendars/{token}",
        "/problems",
        "/problems/{slug}",
        "/api-info",
        "/terms",
    ];
    let requests = sample_requests(&doc, target);
    assert!(requests.len() >= 20, "{}", requests.len());
    let mut tokens = Vec::new();
    for scope in Scope::ALL {
        tokens.push((scope, app.token(&[scope], None).await));
    }
    for (method, uri, required) in &requests {
        let Some(required) = required else {
            assert!(
                public.contains(&uri.as_str()),
                "{method} {uri} declares no security"
            );
            continue;
        };
        assert!(
            !public.contains(&uri.as_str()),
            "{method} {uri} should be public"
        );
        assert!(
            required.len() <= 1,
            "{method} {uri}: one scope per operation, or none (any valid token)"
        );
        // Without a token: 401.
        let res = app.call(request(method, uri)).await;
        assert_eq!(res.status, 401, "{method} {uri} without a token");
        for (scope, token) in &tokens {
            let res = app
                .call_as(
                    token,
                    request(method, uri)
                        .insert_header(("Content-Type", "application/json"))
                        .set_payload("{}"),
                )
                .await;
            if required.first().is_none_or(|r| scope.as_str() == r) {
                assert!(
                    res.status != 401 && res.status != 403,
                    "{method} {uri} with {scope:?}: {} {}",
                    res.status,
                    res.text()
                );
            } else {
                assert_eq!(
                    res.status,
                    403,
                    "{method} {uri} with {scope:?}: {}",
                    res.text()
                );
                res.problem(403, "forbidden");
            }
        }
    }
}

#[actix_web::test]
async fn a_municipality_bound_client_changes_only_its_own_records() {
    let app = TestApp::new().await;
    let sundsvall = app.token(&[Scope::Read, Scope::Admin], Some("2281")).await;
    let association = app.token(&[Scope::Admin], None).await;
    let etag_of = async |uri: &str| app.get(uri).await.header("etag").expect("etag").to_owned();

    // Its own municipality: allowed.
    let etag = etag_of("/v1/municipalities/2281").await;
    let res = app
        .call_as(
            &sundsvall,
            TestRequest::patch()
                .uri("/v1/municipalities/2281")
                .insert_header(("If-Match", etag))
                .set_json(json!({"officialName": "Sundsvalls kommun"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    // Every other municipality: 403, and nothing changes.
    for other in ["2260", "2262", "2280", "2282", "2283", "2284"] {
        let uri = format!("/v1/municipalities/{other}");
        let etag = etag_of(&uri).await;
        let res = app
            .call_as(
                &sundsvall,
                TestRequest::patch()
                    .uri(&uri)
                    .insert_header(("If-Match", etag.clone()))
                    .set_json(json!({"officialName": "Hijacked"})),
            )
            .await;
        res.problem(403, "forbidden");
        assert_eq!(etag_of(&uri).await, etag, "{other} unchanged");
    }
    // The association's own records: 403 for a bound client, allowed for an unbound one.
    let area = format!("/v1/areas/{DIGITALISERING}");
    let etag = etag_of(&area).await;
    for (req, what) in [
        (
            TestRequest::patch()
                .uri(&area)
                .insert_header(("If-Match", etag.clone()))
                .set_json(json!({"description": "x"})),
            "patch area",
        ),
        (
            TestRequest::delete()
                .uri(&area)
                .insert_header(("If-Match", etag.clone())),
            "delete area",
        ),
        (
            TestRequest::post()
                .uri("/v1/areas")
                .set_json(json!({"name": "Ny"})),
            "create area",
        ),
        (
            TestRequest::post()
                .uri("/v1/clients")
                .set_json(json!({"name": "x", "scopes": ["admin"]})),
            "create client",
        ),
    ] {
        app.call_as(&sundsvall, req).await.problem(403, "forbidden");
        let _ = what;
    }
    let res = app
        .call_as(
            &association,
            TestRequest::patch()
                .uri(&area)
                .insert_header(("If-Match", etag))
                .set_json(json!({"description": "Digital utveckling"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // Reading is allowed to everyone with `read`.
    assert_eq!(
        app.call_as(
            &sundsvall,
            TestRequest::get().uri("/v1/municipalities/2262")
        )
        .await
        .status,
        200
    );
}

#[actix_web::test]
async fn writes_need_if_match_and_are_audited() {
    let app = TestApp::new().await;
    let admin = app.token(&[Scope::Admin, Scope::Read], None).await;
    let area = format!("/v1/areas/{DIGITALISERING}");

    let res = app
        .call_as(
            &admin,
            TestRequest::patch()
                .uri(&area)
                .set_json(json!({"description": "a"})),
        )
        .await;
    res.problem(428, "precondition-required");
    let res = app
        .call_as(
            &admin,
            TestRequest::patch()
                .uri(&area)
                .insert_header(("If-Match", "\"7\""))
                .set_json(json!({"description": "a"})),
        )
        .await;
    res.problem(412, "precondition-failed");
    assert_eq!(res.header("etag"), Some("\"1\""));
    let res = app
        .call_as(
            &admin,
            TestRequest::patch()
                .uri(&area)
                .insert_header(("If-Match", "\"1\""))
                .insert_header(("Content-Type", "application/merge-patch+json"))
                .insert_header(("X-Request-Id", "audit-me"))
                .set_payload(r#"{"description": "Digital utveckling"}"#),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.json()["description"], "Digital utveckling");
    assert_eq!(res.json()["name"], "Digitalisering");

    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri(&format!(
                "/v1/audit?resourceType=area&resourceId={DIGITALISERING}"
            )),
        )
        .await
        .json();
    assert_eq!(audit["_meta"]["totalRecords"], 1, "{audit}");
    let entry = &audit["items"][0];
    assert_eq!(entry["action"], "update");
    assert_eq!(entry["requestId"], "audit-me");
    assert_eq!(
        entry["before"]["description"],
        "Kommunernas gemensamma digitala utveckling."
    );
    assert_eq!(entry["after"]["description"], "Digital utveckling");
    assert!(entry["clientId"].is_string());

    // Create and delete are audited too; the delete needs the current version.
    let created = app
        .call_as(
            &admin,
            TestRequest::post()
                .uri("/v1/areas")
                .set_json(json!({"name": "Miljö & Klimat"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let location = created.header("location").expect("location").to_owned();
    let dup = app
        .call_as(
            &admin,
            TestRequest::post()
                .uri("/v1/areas")
                .set_json(json!({"name": "Miljö & Klimat"})),
        )
        .await;
    dup.problem(409, "conflict");
    app.call_as(&admin, TestRequest::delete().uri(&location))
        .await
        .problem(428, "precondition-required");
    let res = app
        .call_as(
            &admin,
            TestRequest::delete()
                .uri(&location)
                .insert_header(("If-Match", "\"1\"")),
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(app.get(&location).await.status, 404);
    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/audit?resourceType=area"),
        )
        .await
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["delete", "create", "update"]);

    // Client secrets never reach the audit log.
    let created = app
        .call_as(
            &admin,
            TestRequest::post().uri("/v1/clients").set_json(
                json!({"name": "Timrå intranät", "scopes": ["read"], "municipalityId": "2262"}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let secret = created.json()["clientSecret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/audit?resourceType=client"),
        )
        .await;
    assert!(!audit.text().contains(&secret));
    assert!(!audit.text().contains("argon2"));
}

#[actix_web::test]
async fn bad_bodies_are_rejected_with_the_field_named() {
    let app = TestApp::new().await;
    let admin = app.token(&[Scope::Admin], None).await;
    let post = |body: &str| {
        TestRequest::post()
            .uri("/v1/areas")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_owned())
    };
    for (body, field) in [
        ("{", "body"),
        ("[]", "body"),
        ("{\"name\": \"X\"} trailing", "body"),
        ("{\"name\": 5}", "name"),
        ("{\"description\": \"only\"}", "name"),
        (
            "{\"name\": \"X\", \"id\": \"6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0009\"}",
            "id",
        ),
        ("{\"name\": \"X\", \"version\": 9}", "version"),
        ("{\"name\": \"\"}", "name"),
    ] {
        let p = app
            .call_as(&admin, post(body))
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{body}: {p}");
    }
    let long = "x".repeat(201);
    let p = app
        .call_as(&admin, post(&json!({"name": long}).to_string()))
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["name"]);
    // Wrong media type, oversize body.
    let res = app
        .call_as(
            &admin,
            TestRequest::post()
                .uri("/v1/areas")
                .insert_header(("Content-Type", "text/plain"))
                .set_payload("{}"),
        )
        .await;
    res.problem(415, "unsupported-media-type");
    let huge = json!({"name": "X", "description": "y".repeat(70_000)}).to_string();
    app.call_as(&admin, post(&huge))
        .await
        .problem(413, "payload-too-large");
    let huge_form = "a".repeat(10_000);
    let res = app
        .call(
            TestRequest::post()
                .uri("/v1/oauth/token")
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(huge_form),
        )
        .await;
    res.problem(413, "payload-too-large");
    // An invalid organisation number is refused before it reaches the database.
    let etag = app
        .get("/v1/municipalities/2280")
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let p = app
        .call_as(
            &admin,
            TestRequest::patch()
                .uri("/v1/municipalities/2280")
                .insert_header(("If-Match", etag))
                .set_json(json!({"organisationNumber": "212000-2412"})),
        )
        .await
        .problem(400, "validation-failed");
    assert_eq!(violation_fields(&p), ["organisationNumber"]);
    // Nothing was written by any of these.
    for kind in ["area", "municipality"] {
        let audit = app
            .call_as(
                &admin,
                TestRequest::get().uri(&format!("/v1/audit?resourceType={kind}")),
            )
            .await
            .json();
        assert_eq!(audit["_meta"]["totalRecords"], 0, "{kind}: {audit}");
    }
}

#[actix_web::test]
async fn clients_are_managed_over_http() {
    let app = TestApp::new().await;
    let admin = app.token(&[Scope::Admin], None).await;
    let res = app
        .call_as(&admin, TestRequest::post().uri("/v1/clients").set_json(json!({"name": "Kramfors intranät", "scopes": ["read", "write", "read"], "municipalityId": "2282"})))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let created = res.json();
    let id = created["clientId"].as_str().expect("id").to_owned();
    assert_eq!(
        res.header("location"),
        Some(format!("/v1/clients/{id}").as_str())
    );
    assert_eq!(created["client"]["scopes"], json!(["read", "write"]));
    assert_eq!(created["clientSecret"].as_str().expect("secret").len(), 43);

    let got = app
        .call_as(&admin, TestRequest::get().uri(&format!("/v1/clients/{id}")))
        .await;
    assert_eq!(got.status, 200);
    assert!(got.json().get("clientSecret").is_none());
    assert!(!got.text().contains("secret"));
    let list = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/clients?municipalityId=2282"),
        )
        .await
        .json();
    assert_eq!(list["_meta"]["totalRecords"], 1);

    for (body, field) in [
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": ["root"]}), "scopes[0]"),
        (
            json!({"name": "x", "scopes": ["read"], "municipalityId": "0001"}),
            "municipalityId",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "municipalityId": "22"}),
            "municipalityId",
        ),
    ] {
        let p = app
            .call_as(
                &admin,
                TestRequest::post()
                    .uri("/v1/clients")
                    .set_json(body.clone()),
            )
            .await
            .problem(400, "validation-failed");
        assert_eq!(violation_fields(&p), [field], "{body}");
    }

    let res = app
        .call_as(
            &admin,
            TestRequest::post().uri(&format!("/v1/clients/{id}/disable")),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.json()["disabledAt"].is_string());
    let again = app
        .call_as(
            &admin,
            TestRequest::post().uri(&format!("/v1/clients/{id}/disable")),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["version"],
        res.json()["version"],
        "disabling twice changes nothing"
    );
    app.call_as(
        &admin,
        TestRequest::post().uri(&format!("/v1/clients/{}/disable", uuid::Uuid::new_v4())),
    )
    .await
    .problem(404, "not-found");
}

#[actix_web::test]
async fn clients_are_managed_at_the_command_line() {
    let app = TestApp::new().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_samverkan"))
            .args(args)
            .env("DATABASE_URL", &app.db.url)
            .env("SAMVERKAN_LOG_LEVEL", "error")
            .output()
            .expect("run samverkan")
    };
    let out = run(&[
        "clients",
        "create",
        "--name",
        "Ånge intranät",
        "--scopes",
        "read,write",
        "--municipality",
        "2260",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let id = printed["clientId"].as_str().expect("clientId").to_owned();
    let secret = printed["clientSecret"]
        .as_str()
        .expect("clientSecret")
        .to_owned();
    assert_eq!(printed.as_object().expect("object").len(), 2);

    // The secret works at the token endpoint.
    let res = app
        .call(
            TestRequest::post()
                .uri("/v1/oauth/token")
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(format!(
                    "grant_type=client_credentials&client_id={id}&client_secret={secret}"
                )),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["scope"], "read write");

    let out = run(&["clients", "list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = run(&["clients", "disable", &id]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabledAt"));
    let out = run(&["clients", "create", "--name", "x", "--scopes", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
}

#[actix_web::test]
async fn rate_limits_answer_429_with_retry_after() {
    let mut config = test_config();
    config.rate_limits.writes_per_minute = 3;
    config.rate_limits.token_requests_per_minute = 2;
    let app = TestApp::with_config(config).await;
    let admin = app.token(&[Scope::Admin], None).await;
    crate::support::fresh_rate_window().await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = app
            .call_as(
                &admin,
                TestRequest::post()
                    .uri("/v1/areas")
                    .set_json(json!({"name": format!("Område {i}")})),
            )
            .await;
        if res.status == 429 {
            res.problem(429, "too-many-requests");
            let retry: u64 = res
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&retry));
        }
        statuses.push(res.status);
    }
    // The test runs within one minute's window: exactly three got through.
    assert_eq!(statuses, [201, 201, 201, 429, 429], "{statuses:?}");
    // Reads are not counted.
    assert_eq!(app.get("/v1/areas").await.status, 200);

    let (id, secret) = app.client(&[Scope::Read], None).await;
    let mut token_statuses = Vec::new();
    for _ in 0..4 {
        let res = app
            .call(
                TestRequest::post()
                    .uri("/v1/oauth/token")
                    .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                    .set_payload(format!(
                        "grant_type=client_credentials&client_id={id}&client_secret={secret}"
                    )),
            )
            .await;
        token_statuses.push(res.status);
    }
    assert!(token_statuses.contains(&429), "{token_statuses:?}");
}

#[actix_web::test]
async fn a_token_accepted_once_is_checked_again_in_what_can_change() {
    let app = TestApp::new().await;
    let (id, _) = app.client(&[Scope::Read], None).await;
    let token = app.token_for(id, &[Scope::Read], None);
    for _ in 0..3 {
        let res = app
            .call_as(&token, TestRequest::get().uri("/v1/areas"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // The same claims with another signature: a token of its own, checked in full.
    let (head, sig) = token.rsplit_once('.').expect("a JWT");
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
    bytes[0] ^= 1;
    let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes));
    let res = app
        .call_as(&forged, TestRequest::get().uri("/v1/areas"))
        .await;
    assert_eq!(res.status, 401, "{}", res.text());
    // Its client disabled (as the API does it on this replica: the status forgotten at once),
    // the token remembered as checked stops working.
    app.execute(&format!(
        "UPDATE api_clients SET disabled_at = now() WHERE id = '{id}'"
    ))
    .await;
    app.state.authenticator().forget(id);
    let res = app
        .call_as(&token, TestRequest::get().uri("/v1/areas"))
        .await;
    assert_eq!(res.status, 401, "{}", res.text());
}
