//! People signing in at their organisation's identity provider: a test OpenID Connect provider
//! (discovery document and JWKS over HTTP on 127.0.0.1, RSA and EC keys) issues tokens shaped
//! like Entra ID's and Keycloak's, and the API accepts exactly the ones it should.

use std::sync::{Arc, Mutex};

use actix_web::test::TestRequest;
use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{TestApp, test_config};

/// Test keys, made for these tests with openssl (`genpkey`); they sign nothing else.
const RSA_1: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7JZ04UZC6J7xD
xfF6wof7F9PmDJTAf3A6Z6ZRD7vN8dCVI27DA77ta1mm16uNuEbp0UYex2+GOTH+
arXd0O5hmS9kH0hgmBnIzbxp0ENBnyn3hc6f+gCMPnrybDSdC4CCHH9+Q2xTji/X
q87ke5NewOIYcmWe7hlRsK43L1mdWpf4rois8/Lqpdw83LfQAjp+fFNYVVmm13i3
MSXeoyTxYAdLC4ohWrzULSPCmZ7bfk6x1MMqXJs82dtUGxj66mbRdhzTQD4AiZnk
+kWleMv6KwD+zTCioSy86HCWqDLuU9K4ycumwRQ5IU50CF3QGVbcEVQVM4os4QTU
4NKN3kmVAgMBAAECggEAC/SldFtbmlTfBVpgKKZETyFwz03G8/xANG76NEwDxK6Z
02lB0nILELpOriaxhjp7R0UwDFfT01iUjcsN5seJ7xC88xG/izI0VXx1OLJOFaNg
KDizYEt1nQAB1Tpd6xl4wnclGvEeOsFG46mNbFHLsp4yY3rtbIeL9QjLPGnJORDc
Nu2jXwi+EXMSlrvbWMsMoRxJ9TJgThMfgbD4Pb/jjC8pkoqGRLpn/Vl1DTiTiVaO
HugBMnh9pquA4dApGbQd7Ew5krgCQxlvYQhtbBTYAWY0Z20c096iKPtIryYnCmg2
SaKh/niNMGcEU8WdhguNrntphmaLPTW5Jn8OGhK5mQKBgQDvv2otJ/ysxwOxfycZ
yxqUrmxMJ4ukerHG0X2SOJ2yoHOJBEw170sZ8kWo1+k5i/MhK/X515x7UBayA6CB
313VRUZpi5x92TsSPKJOqoCZyY6voF5RI84DDGgCb272nbH9hgvJiIFbiGNlKzLO
phtV90Z/JzSI/GOOV4rf+/DavQKBgQDH1V1Y/JMM9OUC/kBpgGD63xBA0iUqZ/9h
5mf1ntQpGv8BLQuO4SukjF1/H/gmNsodNvw0zYi0UIrAbkzEZN1B3YAhKU58E7KY
caVNDpyIshKpSaxauDJhKA81rKMklkLcvmM67lqlastZZFplAoSpf+mCzsb4xDQ/
+v30F0ADuQKBgDo6RiJTfOXFrBr249s63ejQeBMC48J93iGIjbPutjZFC+pyNcQ/
qwDRO6PnVIiaeeFLmQEmIaY9bFWt1dTVGCgNHC3UL5zNHrCuM0lh1bwEHPiAvYd9
Z7KL19MHl26kHC+T19cJpUlC1ckjdcKEy0zUsrV9IyBGFDPlBSCjQvsNAoGAINoM
zJJJQnoIJCPURwPZ7aQ6Mc3aWkxaiaetM4325wMPJQxYuBaAbD6/KCUDUJT1STQ+
5hdb//i1tsjrSeYjEa7uX4VA59j9JV6ZhD+AsGBF/RqlgQyDC8HgLjzBXURunYeX
HJsOv978qyd6TNzLHmpu4xhHUaI/zLzgfv5LgdECgYEApbLZdq+EU/SSPZr9XPmQ
Mm4aC3/FaHqVAJMH5PCDQh/pAmP8KO8pI868xATaIB+I4vs3zYLQrhj/60UjuiuC
5qrDsgAMYbIDBUPli+R/VgyH8wkKZagRDMqhXc6nHu3gSnm1A3UWWUDfPTwmE7wp
piOHi/yx/Br8+H0lhSidkjo=
-----END PRIVATE KEY-----
";
const RSA_2: &str = "-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDM9AfGKgxzgvd5
CAAlSLUuyFbH4sncoKOj93TZAbGmP04N/Iuwhoe4a59wCoK72gysGOVR/7suNSRm
JTYgszEWYAa3OYYADTClLMmslvaXj4ym8CJf5lFnegJNKHu43jTIWUujQrYXlK/T
OlW5hwXYTQCZeUCuH5ZslYE955ds8BsZlC+9Uiw83Nn96UbD2L/WYG84SGuafShR
ovAh5+3om43FHPaJyZbchiHJWaBwNMal8YNw27CJXd8ijeXnJ9vLYkUZYWSxT9OL
rLQQDZfsXuO+9/qKY34EXMBrhuQ43ucrY/nwQ8X2aZYugOL/K3jUlN7fK2NjyP4S
aRBu7edlAgMBAAECggEACy4YqneqvDZdt413LJF9yLKHAVpetplQs+YQyrGr9iyn
3l1zZUrBZo8AYIVCQmsPm+ezwrhXhprBhIztGfWMbPMKCr6pj6EokSoTSkXl57id
7JFW3rJaqHFgZMMblKcSbAdq99nwwvKKcNRSzs8Nw5HXwYd6vsTcWMoDBdR3Tyrk
2/koeKxlj4cnGH+P5+nyHhyx/VrdQvHQ4xrq9WBfxuxtargTcI4454SWtQhOR/PD
CnTJmcn+tcKU+B0NGO+TwKVmnxw6VffRWDT4H3WVoEn3fRZG4h+dCqcO59cIFU5n
aRKg2DFZvo2pbfa0TF6SiWr3lvK11AqpGvBPL9+sAQKBgQDvOXPvykujSGe8R06h
oIrACzdz8MGqXmgbEXrloLRED9nI1mO970T3OgLPRl5pZncilUUG6tAsYl8HjhiF
irOr4AlAiIFDYgUXBNM0kd3Qyl0q9yAMFFNhp5/nY1L8jX9ccLkf2aOmpi4ID3hh
8HpryxaBxm8gLbiZqcrjbUX1AQKBgQDbU1e25yXh+DOfECOaXNEcpcs9J9B3ooxd
ByuLl/MPy7WkoGuWFDR1+jKs1kLNCgYuQPM7P0DUKAx3kysII/pnVAc4za6LkAPS
XZSooxX+IxwpRgjFQffS33zKN2WtpHbDaKxKPWxanK5qjwTnqrxM10KR8x6YzQ0W
dLCkSv4+ZQKBgQCiorGiRSrVEGWOCAB6O5X45+dESFqxw8sNE/40XOQRHaGXO8HF
oASH+4Vre1C2YXX/KfIquLrcYehvT3h2WYy6/e3sVKFkuR/yvVIFfGGMD/f1PNsp
uyvQyVAZ1FnX3y7GHtCMyb7LjlDfI/1YwE/KNuDPS6PDAbJtrZSEt4aHAQKBgQCK
eM8bYkrPpWXqGkVwMwOvg5mSre13awAVx+4dPz0tjt7K5qGmanFIv0N5Tfl0/Mw0
Lbujf2cNy487e4YiqJxy2mGI4os+ABn5mi2+XuEGx+ICyP3GlMTDtWhTP7CJdhmp
fA+y+57Kgru3+T4OigRCu3GDNizuKiAGOnw/7j0g5QKBgQCOodoVX74nvsIrYHVj
7dz68u8aT0xrFxt5pxLgC9RbUH3L4WkUj4mFDa5pWWOYhBDq8DG0SmohfIYqgJLg
JM8QOzA+Eo8W6NgaiQ6W/C15vCVrEJGgoRqpeakDbwH76WcrOII5ylgPErfZdWe6
J/DumW0M+8Yzpekzgd6v+5gV2A==
-----END PRIVATE KEY-----
";
const EC_1: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEPDsxUqABeTRUbtA
2KV0qZuFSxRX7+XEUj1YLHySxfihRANCAARSvF7yMtspkK7D4AvPkQuNqm9ygpXh
ndr1WaA4Z+I2qe14Cwf719j14R4reduJ9ILCxxOOt0i4sNjOQA7gMUDu
-----END PRIVATE KEY-----
";

const AUDIENCE: &str = "api://samverkan";
/// The Entra ID group whose members are Sundsvall's staff.
const SUNDSVALL_GROUP: &str = "5b0f6f0e-2281-4c1e-9a51-000000002281";

/// The provider's state, which a test changes while the API runs.
struct IdpState {
    issuer: String,
    keys: Vec<Value>,
    up: bool,
    key_fetches: usize,
}

/// A test OpenID Connect provider on 127.0.0.1: its discovery document at
/// `<issuer>/.well-known/openid-configuration` and its keys at `<issuer>/keys`.
struct Idp {
    issuer: String,
    state: Arc<Mutex<IdpState>>,
}

/// A test key, for signing with `alg` (ES256 or an RSA algorithm).
fn encoding_key(pem: &str, alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("test key")
}

fn public_jwk(pem: &str, alg: Algorithm, kid: &str) -> Value {
    let key = encoding_key(pem, alg);
    let mut jwk = Jwk::from_encoding_key(&key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    let mut value = serde_json::to_value(jwk).expect("jwk json");
    value["use"] = json!("sig");
    value
}

async fn discovery(state: web::Data<Mutex<IdpState>>) -> HttpResponse {
    let s = state.lock().expect("idp");
    if !s.up {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().json(json!({
        "issuer": s.issuer,
        "jwks_uri": format!("{}/keys", s.issuer),
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn keys(state: web::Data<Mutex<IdpState>>) -> HttpResponse {
    let mut s = state.lock().expect("idp");
    if !s.up {
        return HttpResponse::ServiceUnavailable().finish();
    }
    s.key_fetches += 1;
    HttpResponse::Ok().json(json!({ "keys": s.keys }))
}

impl Idp {
    async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let issuer = format!("http://127.0.0.1:{port}/tenant/v2.0");
        let state = Arc::new(Mutex::new(IdpState {
            issuer: issuer.clone(),
            keys: vec![
                public_jwk(RSA_1, Algorithm::RS256, "rsa-1"),
                public_jwk(EC_1, Algorithm::ES256, "ec-1"),
            ],
            up: true,
            key_fetches: 0,
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/tenant/v2.0/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/tenant/v2.0/keys", web::get().to(keys))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Idp { issuer, state }
    }

    /// The API's settings for this provider: Entra ID's app roles and Keycloak's realm and
    /// client roles map to scopes; a group binds to Sundsvall.
    fn settings(&self, refetch_seconds: u64) -> Value {
        json!({
            "issuer": self.issuer,
            "audience": AUDIENCE,
            "clientId": "samverkan-api",
            "scopes": {
                "Samverkan.Read": ["read"],
                "Samverkan.Write": ["read", "write"],
                "samverkan-admin": ["read", "write", "admin"],
            },
            "municipalityGroups": { SUNDSVALL_GROUP: "2281" },
            "leewaySeconds": 30,
            "refetchSeconds": refetch_seconds,
        })
    }

    async fn app(&self, refetch_seconds: u64) -> TestApp {
        let mut config = test_config();
        config.oidc = serde_json::from_value(json!([self.settings(refetch_seconds)]))
            .expect("issuer settings");
        TestApp::with_config(config).await
    }

    fn key_fetches(&self) -> usize {
        self.state.lock().expect("idp").key_fetches
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An access token as Entra ID issues one for this API to a member of Sundsvall's staff.
fn entra_claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "iat": now() - 5, "nbf": now() - 5, "exp": now() + 600,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
        "name": "Anna Lindqvist", "preferred_username": "anna.lindqvist@sundsvall.se",
        "roles": ["Samverkan.Write"], "scp": "access_as_user", "groups": [SUNDSVALL_GROUP],
    })
}

fn sign(pem: &str, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let key = encoding_key(pem, alg);
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

async fn me(app: &TestApp, token: &str) -> crate::support::Res {
    app.call_as(token, TestRequest::get().uri("/v1/me")).await
}

#[actix_web::test]
async fn an_entra_id_token_signs_in_a_person_with_their_roles_and_municipality() {
    let idp = Idp::start().await;
    let app = idp.app(60).await;
    let token = sign(RSA_1, Algorithm::RS256, "rsa-1", &entra_claims(&idp.issuer));
    let res = me(&app, &token).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let me = res.json();
    assert_eq!(me["kind"], "person");
    assert_eq!(me["displayName"], "Anna Lindqvist");
    assert_eq!(me["username"], "anna.lindqvist@sundsvall.se");
    assert_eq!(me["issuer"], idp.issuer);
    assert_eq!(me["subject"], "00000000-0000-0000-66f3-3332eca7ea81");
    assert_eq!(me["scopes"], json!(["read", "write"]));
    assert_eq!(me["municipalityId"], "2281");

    // The person reads, and writes what belongs to their municipality only.
    let list = app
        .call_as(&token, TestRequest::get().uri("/v1/networks"))
        .await;
    assert_eq!(list.status, 200);
    let own = app
        .call_as(
            &token,
            TestRequest::post().uri("/v1/networks").set_json(
                json!({"name": "Sundsvalls HR-nätverk", "kind": "staff", "municipalityIds": ["2281"]}),
            ),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text());
    app.call_as(
        &token,
        TestRequest::post().uri("/v1/networks").set_json(
            json!({"name": "Timrås nätverk", "kind": "staff", "municipalityIds": ["2262"]}),
        ),
    )
    .await
    .problem(403, "forbidden");
    // No admin role: no admin operations.
    app.call_as(&token, TestRequest::get().uri("/v1/clients"))
        .await
        .problem(403, "forbidden");
    assert_eq!(idp.key_fetches(), 1, "the keys are fetched once and cached");

    // The audit log says who did it, and is filtered by person.
    let admin = app.token(&[samverkan::auth::Scope::Admin], None).await;
    let audit = app
        .call_as(
            &admin,
            TestRequest::get()
                .uri("/v1/audit?person=00000000-0000-0000-66f3-3332eca7ea81&resourceType=network"),
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    let items = audit.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[0]["person"]["name"], "Anna Lindqvist");
    assert_eq!(items[0]["person"]["issuer"], idp.issuer);
    assert_eq!(items[0]["clientId"], Value::Null);
    assert!(
        items[0]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("person:")),
        "{}",
        items[0]
    );
    let nobody = app
        .call_as(
            &admin,
            TestRequest::get().uri("/v1/audit?person=someone-else"),
        )
        .await;
    assert_eq!(nobody.json()["_meta"]["totalRecords"], 0);
}

#[actix_web::test]
async fn a_keycloak_token_maps_realm_and_client_roles() {
    let idp = Idp::start().await;
    let app = idp.app(60).await;
    let claims = json!({
        "iss": idp.issuer, "aud": [AUDIENCE, "account"], "iat": now(), "exp": now() + 300,
        "sub": "f1b2c3d4-0000-4000-8000-000000000001", "preferred_username": "kfadmin",
        "name": "Kim Förbund", "realm_access": {"roles": ["offline_access", "Samverkan.Read"]},
        "resource_access": {"samverkan-api": {"roles": ["samverkan-admin"]},
                            "other-client": {"roles": ["Samverkan.Write"]}},
    });
    let token = sign(EC_1, Algorithm::ES256, "ec-1", &claims);
    let res = me(&app, &token).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let me = res.json();
    assert_eq!(me["subject"], "f1b2c3d4-0000-4000-8000-000000000001");
    assert_eq!(me["scopes"], json!(["read", "write", "admin"]));
    assert_eq!(
        me["municipalityId"],
        Value::Null,
        "acts for the association"
    );
    let clients = app
        .call_as(&token, TestRequest::get().uri("/v1/clients"))
        .await;
    assert_eq!(clients.status, 200, "{}", clients.text());
}

#[actix_web::test]
async fn tokens_a_resource_server_must_refuse_are_refused() {
    let idp = Idp::start().await;
    let app = idp.app(60).await;
    let good = entra_claims(&idp.issuer);
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let rsa_n = public_jwk(RSA_1, Algorithm::RS256, "rsa-1")["n"]
        .as_str()
        .expect("n")
        .to_owned();
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "another audience",
            "audience",
            sign(
                RSA_1,
                Algorithm::RS256,
                "rsa-1",
                &with(json!({"aud": "api://other"})),
            ),
        ),
        (
            "expired beyond the leeway",
            "expired",
            sign(
                RSA_1,
                Algorithm::RS256,
                "rsa-1",
                &with(json!({"exp": now() - 120})),
            ),
        ),
        (
            "not valid yet",
            "not valid yet",
            sign(
                RSA_1,
                Algorithm::RS256,
                "rsa-1",
                &with(json!({"nbf": now() + 300})),
            ),
        ),
        (
            "an issuer that is not trusted",
            "does not trust",
            sign(
                RSA_1,
                Algorithm::RS256,
                "rsa-1",
                &with(json!({"iss": "https://login.example.net/evil/v2.0"})),
            ),
        ),
        (
            "a key the provider does not publish",
            "does not publish",
            sign(RSA_2, Algorithm::RS256, "rsa-9", &good),
        ),
        (
            "signed by another key under a published kid",
            "signature",
            sign(RSA_2, Algorithm::RS256, "rsa-1", &good),
        ),
        (
            "an RSA key used as an EC one (algorithm confusion)",
            "algorithm",
            sign(EC_1, Algorithm::ES256, "rsa-1", &good),
        ),
        ("HS256 keyed with the public key", "algorithm", {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("rsa-1".to_owned());
            jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(rsa_n.as_bytes()))
                .expect("hs256")
        }),
        (
            "alg none",
            "malformed",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rsa-1"})),
                b64(&good)
            ),
        ),
        (
            "no subject",
            "sub claim",
            sign(RSA_1, Algorithm::RS256, "rsa-1", &{
                let mut c = good.clone();
                c.as_object_mut().expect("object").remove("sub");
                c.as_object_mut().expect("object").remove("oid");
                c
            }),
        ),
    ];
    for (case, why, token) in cases {
        let res = me(&app, &token).await;
        let problem = res.problem(401, "unauthorized");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(why), "{case}: {detail}");
    }
    // A token the service issues itself keeps working beside the provider's.
    let own = me(&app, &app.reader).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["kind"], "client");
}

#[actix_web::test]
async fn rotated_keys_are_picked_up_without_a_restart() {
    let idp = Idp::start().await;
    let app = idp.app(0).await;
    let claims = entra_claims(&idp.issuer);
    let old = sign(RSA_1, Algorithm::RS256, "rsa-1", &claims);
    assert_eq!(me(&app, &old).await.status, 200);
    // The provider rotates: rsa-2 replaces rsa-1.
    idp.state.lock().expect("idp").keys = vec![public_jwk(RSA_2, Algorithm::RS256, "rsa-2")];
    let new = sign(RSA_2, Algorithm::RS256, "rsa-2", &claims);
    assert_eq!(me(&app, &new).await.status, 200, "the new key is fetched");
    assert_eq!(me(&app, &old).await.status, 401, "the retired key is gone");
}

#[actix_web::test]
async fn made_up_kids_do_not_hammer_the_provider() {
    let idp = Idp::start().await;
    let app = idp.app(60).await;
    let claims = entra_claims(&idp.issuer);
    for i in 0..20 {
        let token = sign(RSA_2, Algorithm::RS256, &format!("bogus-{i}"), &claims);
        assert_eq!(me(&app, &token).await.status, 401);
    }
    assert_eq!(
        idp.key_fetches(),
        1,
        "one fetch per refetch interval, whatever the tokens say"
    );
}

#[actix_web::test]
async fn a_provider_that_is_down_leaves_cached_keys_working_and_answers_503_for_the_rest() {
    let idp = Idp::start().await;
    let app = idp.app(0).await;
    let claims = entra_claims(&idp.issuer);
    let known = sign(RSA_1, Algorithm::RS256, "rsa-1", &claims);
    assert_eq!(me(&app, &known).await.status, 200);
    idp.state.lock().expect("idp").up = false;
    assert_eq!(me(&app, &known).await.status, 200, "its key is cached");
    let unknown = sign(RSA_2, Algorithm::RS256, "rsa-2", &claims);
    let started = std::time::Instant::now();
    let res = me(&app, &unknown).await;
    res.problem(503, "service-unavailable");
    assert!(res.header("retry-after").is_some(), "Retry-After");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "never a hang"
    );
}

// ---------------------------------------------------------------------------------------------
// Browsers: CORS for the apps on the allow-list

const APP_ORIGIN: &str = "http://app.kfvn.test:5173";

async fn browser_app() -> TestApp {
    let mut config = test_config();
    config.cors_origins = vec![APP_ORIGIN.to_owned()];
    TestApp::with_config(config).await
}

fn sample_path(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(match &rest[start + 1..end] {
            "year" => "2022",
            "tertial" => "2",
            "municipalityId" => "2281",
            "system" | "externalId" | "collection" | "format" => "x",
            _ => "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn header_set(value: Option<&str>) -> std::collections::BTreeSet<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[actix_web::test]
async fn preflights_name_the_methods_each_route_really_has() {
    let app = browser_app().await;
    let doc = app
        .call(TestRequest::get().uri("/v1/openapi.json"))
        .await
        .json();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 30, "{}", paths.len());
    for (pattern, item) in paths {
        let mut methods: std::collections::BTreeSet<String> =
            ["get", "put", "post", "patch", "delete"]
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(|m| m.to_ascii_uppercase())
                .collect();
        if methods.contains("GET") {
            methods.insert("HEAD".to_owned());
        }
        let uri = sample_path(pattern);
        let first = methods.iter().next().expect("a method").clone();
        let res = app
            .call(
                TestRequest::default()
                    .method(actix_web::http::Method::OPTIONS)
                    .uri(&uri)
                    .insert_header(("Origin", APP_ORIGIN))
                    .insert_header(("Access-Control-Request-Method", first.as_str()))
                    .insert_header(("Access-Control-Request-Headers", "authorization,if-match")),
            )
            .await;
        assert_eq!(res.status, 204, "{uri}: {}", res.text());
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{uri}"
        );
        assert_eq!(
            header_set(res.header("access-control-allow-methods")),
            methods,
            "{uri}"
        );
        let allowed = header_set(res.header("access-control-allow-headers"));
        for h in [
            "AUTHORIZATION",
            "CONTENT-TYPE",
            "IF-MATCH",
            "IF-NONE-MATCH",
            "IDEMPOTENCY-KEY",
            "X-REQUEST-ID",
        ] {
            assert!(allowed.contains(h), "{uri}: {h}");
        }
        assert!(
            res.header("vary").is_some_and(|v| v.contains("Origin")),
            "{uri}"
        );

        let stranger = app
            .call(
                TestRequest::default()
                    .method(actix_web::http::Method::OPTIONS)
                    .uri(&uri)
                    .insert_header(("Origin", "http://evil.test"))
                    .insert_header(("Access-Control-Request-Method", first.as_str())),
            )
            .await;
        assert_eq!(
            stranger.header("access-control-allow-origin"),
            None,
            "{uri}: an origin not on the list gets no CORS headers"
        );
    }
}

#[actix_web::test]
async fn answers_to_an_allowed_origin_are_readable_errors_included() {
    let app = browser_app().await;
    let from_app = |req: TestRequest| req.insert_header(("Origin", APP_ORIGIN));
    let ok = app
        .call_as(
            &app.reader,
            from_app(TestRequest::get().uri("/v1/municipalities/2281")),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin"), Some(APP_ORIGIN));
    let exposed = header_set(ok.header("access-control-expose-headers"));
    for h in [
        "ETAG",
        "LOCATION",
        "X-REQUEST-ID",
        "RETRY-AFTER",
        "IDEMPOTENT-REPLAYED",
    ] {
        assert!(exposed.contains(h), "{h}");
    }
    assert_eq!(ok.header("access-control-allow-credentials"), None);

    let anonymous = app
        .call(from_app(TestRequest::get().uri("/v1/municipalities")))
        .await;
    anonymous.problem(401, "unauthorized");
    assert_eq!(
        anonymous.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );

    let admin = app.token(&[samverkan::auth::Scope::Admin], None).await;
    let stale = app
        .call_as(
            &admin,
            from_app(
                TestRequest::patch()
                    .uri("/v1/municipalities/2281")
                    .insert_header(("If-Match", "\"999\""))
                    .insert_header(("Content-Type", "application/merge-patch+json"))
                    .set_payload(r#"{"name": "Sundsvall"}"#),
            ),
        )
        .await;
    stale.problem(412, "precondition-failed");
    assert_eq!(
        stale.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );

    let stranger = app
        .call_as(
            &app.reader,
            TestRequest::get()
                .uri("/v1/municipalities/2281")
                .insert_header(("Origin", "http://evil.test")),
        )
        .await;
    assert_eq!(
        stranger.status, 200,
        "the server answers; the browser keeps it from the page"
    );
    assert_eq!(stranger.header("access-control-allow-origin"), None);
    assert!(
        stranger
            .header("vary")
            .is_some_and(|v| v.contains("Origin"))
    );
}

/// What a page in the browser reported back.
#[derive(Default)]
struct PageState {
    page: String,
    results: Vec<Value>,
}

async fn page(state: web::Data<Mutex<PageState>>) -> HttpResponse {
    let html = state.lock().expect("page").page.clone();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

async fn result(state: web::Data<Mutex<PageState>>, body: web::Json<Value>) -> HttpResponse {
    state.lock().expect("page").results.push(body.0);
    HttpResponse::NoContent().finish()
}

/// Opens `url` in headless Chromium and waits (at most 30 s) for the page to post its result.
async fn open_in_chromium(url: &str, state: &Arc<Mutex<PageState>>) -> Value {
    let profile = tempfile_dir();
    let mut child = std::process::Command::new(crate::support::chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.display()),
            url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = std::time::Instant::now();
    let found = loop {
        if let Some(r) = state.lock().expect("page").results.pop() {
            break Some(r);
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            break None;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&profile);
    found.expect("the page reported within 30 s")
}

pub(crate) fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("samverkan-chromium-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("profile dir");
    dir
}

/// The page a frontend on another origin would be: it calls the API with a bearer token, reads
/// a 200 with its ETag and a 412 problem, and posts what it saw back to where it came from.
fn frontend_page(api: &str, reader: &str, admin: &str) -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>Samverkan frontend</title><script>
(async () => {{
  const out = {{ origin: location.origin }};
  try {{
    const r = await fetch("{api}/v1/municipalities/2281", {{ headers: {{ Authorization: "Bearer {reader}" }} }});
    out.status = r.status; out.etag = r.headers.get("ETag"); out.name = (await r.json()).name;
    const p = await fetch("{api}/v1/municipalities/2281", {{ method: "PATCH",
      headers: {{ Authorization: "Bearer {admin}", "If-Match": "\"999\"", "Content-Type": "application/merge-patch+json" }},
      body: JSON.stringify({{ name: "Sundsvall" }}) }});
    out.staleStatus = p.status; out.staleContentType = p.headers.get("Content-Type");
    out.staleType = (await p.json()).type; out.currentEtag = p.headers.get("ETag");
  }} catch (e) {{ out.error = String(e); }}
  await fetch("/result", {{ method: "POST", headers: {{ "Content-Type": "application/json" }}, body: JSON.stringify(out) }});
}})();
</script>"#
    )
}

#[actix_web::test]
async fn a_browser_app_on_the_list_reads_answers_and_problems_and_one_off_the_list_is_blocked() {
    // The frontend's own server, on another port: another origin.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let page_port = listener.local_addr().expect("addr").port();
    let state = Arc::new(Mutex::new(PageState::default()));
    let data = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/app.html", web::get().to(page))
            .route("/result", web::post().to(result))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);

    let mut config = test_config();
    config.cors_origins = vec![format!("http://127.0.0.1:{page_port}")];
    let app = TestApp::with_config(config).await;
    let api_port = app.listen().await;
    let admin = app.token(&[samverkan::auth::Scope::Admin], None).await;
    state.lock().expect("page").page =
        frontend_page(&format!("http://127.0.0.1:{api_port}"), &app.reader, &admin);

    let seen = open_in_chromium(&format!("http://127.0.0.1:{page_port}/app.html"), &state).await;
    assert_eq!(seen["error"], Value::Null, "{seen}");
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(seen["name"], "Sundsvall", "{seen}");
    assert_eq!(seen["etag"], "\"1\"", "the script reads the ETag: {seen}");
    assert_eq!(seen["staleStatus"], 412, "{seen}");
    assert_eq!(
        seen["staleContentType"], "application/problem+json",
        "{seen}"
    );
    assert_eq!(seen["staleType"], "/problems/precondition-failed", "{seen}");
    assert_eq!(seen["currentEtag"], "\"1\"", "{seen}");

    // The same page from an origin not on the list: the browser blocks the answers.
    let blocked = open_in_chromium(&format!("http://localhost:{page_port}/app.html"), &state).await;
    assert_eq!(blocked["origin"], format!("http://localhost:{page_port}"));
    assert_eq!(blocked["status"], Value::Null, "{blocked}");
    assert!(
        blocked["error"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{blocked}"
    );
}

// ---------------------------------------------------------------------------------------------
// Guard rails for administrators

#[actix_web::test]
async fn administrators_cannot_lock_the_administration_out() {
    let idp = Idp::start().await;
    let app = idp.app(60).await;
    let person_admin = sign(
        EC_1,
        Algorithm::ES256,
        "ec-1",
        &json!({
            "iss": idp.issuer, "aud": AUDIENCE, "iat": now(), "exp": now() + 300,
            "sub": "admin-person", "resource_access": {"samverkan-api": {"roles": ["samverkan-admin"]}},
        }),
    );
    let (only_admin, _) = app.client(&[samverkan::auth::Scope::Admin], None).await;
    let disable = |id: uuid::Uuid| TestRequest::post().uri(&format!("/v1/clients/{id}/disable"));

    // The last enabled administrator client stays.
    let res = app.call_as(&person_admin, disable(only_admin)).await;
    let problem = res.problem(409, "conflict");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("last enabled administrator")),
        "{problem}"
    );

    // With a second one, the first may go; but no administrator disables its own client.
    let second_token = app.token(&[samverkan::auth::Scope::Admin], None).await;
    let second = me(&app, &second_token).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let own = app
        .call_as(
            &second_token,
            TestRequest::post().uri(&format!("/v1/clients/{second}/disable")),
        )
        .await;
    let problem = own.problem(409, "conflict");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("its own client")),
        "{problem}"
    );
    let res = app.call_as(&second_token, disable(only_admin)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.json()["disabledAt"].is_string());
}

// ---------------------------------------------------------------------------------------------
// A machine client writing on behalf of its users

#[actix_web::test]
async fn a_client_allowed_to_act_for_its_users_says_on_whose_behalf_it_writes() {
    let app = TestApp::new().await;
    let admin = app.token(&[samverkan::auth::Scope::Admin], None).await;
    let created = app
        .call_as(
            &admin,
            TestRequest::post().uri("/v1/clients").set_json(json!({
                "name": "Sundsvalls intranät", "scopes": ["read", "write"],
                "municipalityId": "2281", "actsForUsers": true,
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["client"]["actsForUsers"], true);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        created["clientId"].as_str().expect("id"),
        created["clientSecret"].as_str().expect("secret")
    );
    let token = app
        .call(
            TestRequest::post()
                .uri("/v1/oauth/token")
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(form),
        )
        .await
        .json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let network = |name: &str| {
        TestRequest::post()
            .uri("/v1/networks")
            .set_json(json!({"name": name, "kind": "staff", "municipalityIds": ["2281"]}))
    };
    let res = app
        .call_as(
            &token,
            network("Intranätets nätverk").insert_header(("X-Sent-By", "type=adAccount; anli01")),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let id = res.json()["id"].as_str().expect("id").to_owned();
    let audit = app
        .call_as(
            &admin,
            TestRequest::get().uri(&format!("/v1/audit?resourceId={id}")),
        )
        .await
        .json();
    assert_eq!(audit["items"][0]["sentBy"], "type=adAccount; anli01");
    assert_eq!(
        audit["items"][0]["clientId"], created["clientId"],
        "the client is recorded too"
    );

    let res = app
        .call_as(
            &token,
            network("Trasigt").insert_header(("X-Sent-By", "anli01")),
        )
        .await;
    let problem = res.problem(400, "validation-failed");
    assert_eq!(problem["violations"][0]["field"], "X-Sent-By");

    // A client that is not allowed may not say it, and nothing is written.
    let plain = app
        .token(
            &[samverkan::auth::Scope::Read, samverkan::auth::Scope::Write],
            None,
        )
        .await;
    app.call_as(
        &plain,
        network("Otillåtet").insert_header(("X-Sent-By", "type=adAccount; anli01")),
    )
    .await
    .problem(403, "forbidden");
    let list = app.get("/v1/networks?limit=500").await.json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&"Intranätets nätverk"), "{names:?}");
    assert!(!names.contains(&"Otillåtet"), "{names:?}");
    assert!(!names.contains(&"Trasigt"), "{names:?}");
}
