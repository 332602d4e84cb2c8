//! The OpenAPI 3.1 document: the common parts here, the operations from [`crate::app::routes`].

use actix_web::App;
use utoipa::openapi::security::{
    ClientCredentials, Flow, OAuth2, OpenIdConnect, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::app::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Samverkan API",
        description = "The data service of Kommunförbundet Västernorrland, the association of the \
seven municipalities of Västernorrland county: municipalities, collaboration areas, yearly plans \
and their goals.\n\n\
Conventions: JSON with camelCase fields; timestamps RFC 3339 in UTC; municipalities addressed by \
their kommunkod (`2281`), other resources by UUID. Lists take `limit` (1–500, default 20), `page` \
(from 1) and `sort` (`name,-updatedAt`), answer `{items, _meta}`, and sort names the Swedish way. \
Every error is an RFC 9457 `application/problem+json` document with `type`, `title`, `status`, \
`detail`, `instance`, `requestId` and, for invalid input, `violations`. Every answer carries \
`X-Request-Id` (the client's own when it sent a valid one). GETs carry a strong `ETag` and \
honour `If-None-Match` with `304 Not Modified`; `HEAD` is answered wherever `GET` is, with the \
same headers and authorization. Dates are exactly `YYYY-MM-DD` and instants exactly RFC 3339; \
text never contains NUL (U+0000). A request body that stops arriving is answered 408.\n\n\
**På svenska:** Kommunförbundet Västernorrlands datatjänst: länets sju kommuner, samverkansområdena, \
årets verksamhetsplan och dess mål, nätverken och presidierna, utvecklingsuppdragen med \
tertialrapporter, nätverkens återkoppling och styrelsens rapporter. JSON med camelCase, tider i UTC \
(RFC 3339), kommuner med kommunkod, allt annat med UUID. Listor tar `limit`, `page` eller `after`, \
`sort` och filter och sorterar namn på svenska. Varje fel är ett problemdokument (RFC 9457) vars \
`type` är en sida som förklarar felet på svenska och engelska (`/problems`). En token hämtas på \
`/v1/oauth/token` och skickas som `Authorization: Bearer <token>`. Projektets README har en \
svensk version av sina huvudavsnitt.",
        license(name = "MIT", url = "https://opensource.org/licenses/MIT"),
    ),
    servers((url = "/", description = "The service that serves this document")),
    modifiers(&Security),
    tags(
        (name = "Authentication", description = "OAuth 2.0 client credentials: get a token at \
`/v1/oauth/token`, send it as `Authorization: Bearer <token>`. Tokens last 15 minutes \
(`SAMVERKAN_JWT_TTL_SECONDS`); tokens claiming a longer life or issued in the future are refused."),
        (name = "Meta", description = "What this API is and its OpenAPI document."),
        (name = "Municipalities", description = "The seven member municipalities, by kommunkod."),
        (name = "Areas", description = "Collaboration areas (verksamhetsområden)."),
        (name = "Plans", description = "Yearly operational plans and their three goals."),
        (name = "Networks", description = "Networks and presidia, and their members (personal data)."),
        (name = "Assignments", description = "Development assignments and their lifecycle."),
        (name = "Progress reports", description = "Tertial progress reports of the assignments."),
        (name = "Feedback", description = "The networks' judgement of the year's goals (Röster från kommunerna)."),
        (name = "Events", description = "Conferences, trainings (utbildningsinsatser), network and \
presidium meetings and webinars (arrangemang); registrations with places and a waiting list \
(personal data); iCalendar feeds for Outlook, Google Calendar and the intranets, and calendar \
links that open them without a token."),
        (name = "Imports", description = "Bulk loads from CSV (Swedish Excel) or NDJSON: all or nothing, line-numbered errors."),
        (name = "Search", description = "One search box across the collections, for intranets: \
forgiving Swedish search, ranked, highlighted, counted per type."),
        (name = "Reports", description = "The board's tertial and annual reports."),
        (name = "Report links", description = "Links that open one report in any browser without \
a token, for board members: signed, expiring, revocable, audited."),
        (name = "Changes", description = "The change feed, for systems that mirror this service."),
        (name = "Clients", description = "API clients (administrators)."),
        (name = "Audit", description = "Who changed what, when (administrators)."),
        (name = "Operations", description = "Health probes and metrics for operators."),
    ),
)]
struct ApiDoc;

/// The security scheme every protected operation names: OAuth 2.0 client credentials, whose
/// token is a bearer JWT. (Swagger UI on /docs can fetch a token with it.)
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter([
            ("read", "Read every resource"),
            (
                "write",
                "Create, change and delete records (of its own municipality when the client is bound to one)",
            ),
            ("import", "Bulk loads"),
            ("admin", "API clients, reference data and the audit log"),
            (
                "metrics",
                "The service's metrics (/metrics), for a Prometheus server",
            ),
        ]);
        let flow = Flow::ClientCredentials(ClientCredentials::new("/v1/oauth/token", scopes));
        components.add_security_scheme(
            crate::auth::SCHEME,
            SecurityScheme::OAuth2(OAuth2::with_description(
                [flow],
                "Client credentials (RFC 6749 §4.4). The access token is an EdDSA-signed JWT \
                 (typ at+jwt) verifiable with /.well-known/jwks.json. Every operation also \
                 accepts, in the same `Authorization: Bearer` header, a person's access token \
                 from an OpenID Connect provider the deployment trusts (`SAMVERKAN_OIDC_ISSUERS`): \
                 its roles, scopes or groups map to these same scopes (the `openIdConnect` \
                 scheme). `GET /v1/me` says who the token is and what it may do. A client created with `actsForUsers` may send \
                 `X-Sent-By: type=adAccount; <user>` with a write to say on whose behalf it \
                 writes (kept in the audit log); from any other caller the header is refused \
                 (403).",
            )),
        );
    }
}

/// The discovery document the committed OpenAPI document names for people's sign-in: Microsoft
/// Entra ID's, for any organisation. A deployment serves its first configured provider's instead.
pub const DEFAULT_DISCOVERY: &str =
    "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration";

/// What an installation's configuration changes in the document it serves. The committed
/// document is the default's.
#[derive(Debug, Default, Clone, Copy)]
pub struct Installation<'a> {
    /// People sign in at this issuer (its discovery document), the first provider trusted;
    /// by default [`DEFAULT_DISCOVERY`].
    pub issuer: Option<&'a str>,
    /// `/metrics` needs no token (`SAMVERKAN_METRICS_PUBLIC`).
    pub public_metrics: bool,
    /// Where clients reach the service (`SAMVERKAN_PUBLIC_URL`): `servers` names it, and the
    /// terms of use are linked under it. By default the document names the service relatively.
    pub public_url: Option<&'a str>,
    /// `info.contact`; by default ([`crate::config::Contact::default`]) the association's
    /// name alone.
    pub contact: Option<&'a crate::config::Contact>,
}

impl<'a> Installation<'a> {
    pub fn of(config: &'a crate::config::Config) -> Self {
        Self {
            issuer: config.oidc.first().map(|p| p.issuer.as_str()),
            public_metrics: config.metrics_public,
            public_url: config.public_url.as_deref(),
            contact: Some(&config.contact),
        }
    }
}

/// The complete document, built from the same route list as the app, as committed (people's
/// sign-in through [`DEFAULT_DISCOVERY`]).
pub fn document() -> utoipa::openapi::OpenApi {
    served(Installation::default())
}

/// The document an installation serves.
pub fn served(installation: Installation<'_>) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    let base = installation.public_url.unwrap_or_default();
    doc.info.terms_of_service = Some(format!("{base}{}", crate::app::terms::PATH));
    if let Some(url) = installation.public_url {
        doc.servers = Some(vec![
            utoipa::openapi::ServerBuilder::new()
                .url(url)
                .description(Some("This installation"))
                .build(),
        ]);
    }
    let contact = installation.contact.cloned().unwrap_or_default();
    doc.info.contact = Some(
        utoipa::openapi::info::ContactBuilder::new()
            .name(Some(contact.name))
            .email(contact.email)
            .url(contact.url)
            .build(),
    );
    let discovery = match installation.issuer {
        Some(issuer) => format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
        None => DEFAULT_DISCOVERY.to_owned(),
    };
    if installation.public_metrics {
        // SAMVERKAN_METRICS_PUBLIC: the route table reads this document, so /metrics is then
        // public on purpose (it is one of the operations that may be).
        if let Some(op) = doc
            .paths
            .paths
            .get_mut("/metrics")
            .and_then(|item| item.get.as_mut())
        {
            op.security = None;
        }
    }
    people_may_sign_in(&mut doc, discovery);
    swedish_labels(&mut doc, &crate::resources::VOCABULARIES);
    if let Some(template) = doc
        .paths
        .paths
        .get_mut("/v1/imports/{collection}/template")
        .and_then(|item| item.get.as_mut())
    {
        let columns =
            crate::integration::imports::columns_documentation(&crate::resources::VOCABULARIES);
        let description = template.description.get_or_insert_with(String::new);
        description.push_str(&columns);
    }
    doc
}

/// Lists, on each enum schema with a vocabulary, its values' Swedish labels: in the
/// description and as `x-labels-sv` (value → labels, the first the one exports write).
fn swedish_labels(
    doc: &mut utoipa::openapi::OpenApi,
    vocabularies: &crate::rules::labels::Vocabularies,
) {
    use utoipa::openapi::{RefOr, schema::Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for vocabulary in vocabularies.all {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(vocabulary.name)
        else {
            continue;
        };
        let text = format!(
            "{}\n\nFiles may write the values as their Swedish labels: imports (CSV and NDJSON) \
             read them whatever the case and accents, and CSV exports with `labels=sv` write \
             the first: {}. The JSON API takes only the values.",
            object.description.as_deref().unwrap_or_default(),
            vocabulary.describe()
        );
        object.description = Some(text);
        let labels: serde_json::Map<String, serde_json::Value> = vocabulary
            .values
            .iter()
            .map(|(value, labels)| ((*value).to_owned(), serde_json::json!(labels)))
            .collect();
        let extensions = object.extensions.get_or_insert_with(Default::default);
        extensions.insert("x-labels-sv".to_owned(), serde_json::Value::Object(labels));
    }
}

/// Declares the second way in, a person's token from a trusted OpenID Connect provider, and
/// names it beside every client-credentials requirement with the same scopes: the gate accepts
/// either token for every protected operation, and the route table checks that the two
/// alternatives agree.
fn people_may_sign_in(doc: &mut utoipa::openapi::OpenApi, discovery: String) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut scheme = OpenIdConnect::new(discovery);
    scheme.description = Some(
        "A person's access token from the organisation's OpenID Connect provider (Microsoft \
         Entra ID, Keycloak, …), obtained by the browser app with the authorization code flow \
         and PKCE, for this API's audience; sent as `Authorization: Bearer`. Its roles, `scp` \
         or groups map to the scopes `read`, `write`, `import` and `admin` as the deployment \
         configures (`SAMVERKAN_OIDC_ISSUERS`); the scopes named here are this API's. The \
         served document names the deployment's first trusted provider."
            .to_owned(),
    );
    components.add_security_scheme(
        crate::auth::PEOPLE_SCHEME,
        SecurityScheme::OpenIdConnect(scheme),
    );
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let Some(security) = op.security.as_mut() else {
                continue;
            };
            let people: Vec<SecurityRequirement> = security
                .iter()
                .filter_map(|requirement| {
                    let value = serde_json::to_value(requirement).ok()?;
                    let scopes = value.get(crate::auth::SCHEME)?.as_array()?.clone();
                    let scopes: Vec<String> = scopes
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect();
                    Some(SecurityRequirement::new(crate::auth::PEOPLE_SCHEME, scopes))
                })
                .collect();
            security.extend(people);
        }
    }
}

/// Where this API departs from DIGG's REST API profile on purpose, and why: said in the
/// document itself, as the profile asks of a deliberate exception.
fn profile_deviations() -> serde_json::Value {
    serde_json::json!([{
        "rule": "AME.04, AME.05: camelCase names for parameters and members",
        "where": "POST /v1/oauth/token (OAuthError, TokenResponse)",
        "why": "OAuth 2.0 (RFC 6749 §4.4 and §5) names the token endpoint's parameters and \
                answer in snake_case (grant_type, client_id, access_token, expires_in); OAuth \
                clients and libraries send and expect exactly those names."
    }, {
        "rule": "UFN.08: only hyphens between words in URLs",
        "where": "GET /.well-known/jwks.json, GET /v1/openapi.json",
        "why": "RFC 8615 fixes the /.well-known/ prefix and OpenID Connect clients look for the \
                keys there; openapi.json is the file name tools (Swagger UI, generators) expect."
    }, {
        "rule": "UFN.02, SAK.01: HTTPS on port 443 in servers",
        "where": "servers, where an installation has not set SAMVERKAN_PUBLIC_URL",
        "why": "Without it the service does not know the address it is reached at and names \
                itself relatively (`/`), as the committed document does. An installation serves \
                the API over HTTPS on port 443 behind its TLS-terminating proxy and sets \
                SAMVERKAN_PUBLIC_URL to that address; its document then names it in servers."
    }])
}

/// The service level this software is built and measured for (DIGG DOK.08); an installation's
/// own agreement is its operator's.
fn service_level() -> serde_json::Value {
    serde_json::json!({
        "availability": "Not promised by this document: it is set by the organisation that \
                         operates the installation. The service is built for it: any number of \
                         replicas behind a load balancer on one PostgreSQL, health probes \
                         (/health/live, /health/ready), no acknowledged write lost in a crash or \
                         a database outage.",
        "responseTime": "Measured in bench/ on 2 CPU cores with 1 000 000 feedback entries: a \
                         read by id answers in 4.2 ms at the 99th percentile under 32 concurrent \
                         clients; every request has a deadline (30 s by default) and the \
                         database answers within its statement timeout.",
        "support": "Through the operating organisation; errors are reported with the requestId \
                    every answer carries (X-Request-Id), which every log line of the request \
                    names. Each problem type is documented at its type URI (/problems)."
    })
}

/// The document as committed in `openapi/openapi.json` (pretty JSON, trailing newline).
pub fn to_pretty_json(doc: &utoipa::openapi::OpenApi) -> String {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    crate::app::examples::fill(&mut value);
    crate::app::examples::fill_times(&mut value);
    if let Some(info) = value.get_mut("info").and_then(|i| i.as_object_mut()) {
        info.insert("x-profile-deviations".to_owned(), profile_deviations());
        info.insert("x-sla".to_owned(), service_level());
    }
    let mut json = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}
