//! The problem types as documentation: every `type` a problem document names
//! (`/problems/not-found`, …) answers a page that says, in Swedish and English, what the error
//! means, when it happens and what to do: HTML for a browser, JSON for
//! `Accept: application/json`. `/problems` lists them all.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::error::responses::NotFound;
use crate::http::escape_html as esc;

/// One problem type, in English and Swedish.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "/problems/precondition-failed", "status": 412,
    "title": "Precondition failed", "titleSv": "Villkoret uppfylls inte",
    "description": "The If-Match you sent names a version that is no longer the current one: someone changed the record after you read it.",
    "descriptionSv": "If-Match anger en version som inte längre är den aktuella: någon har ändrat posten sedan du läste den.",
    "resolution": "Read the record again (the answer carries its current ETag), apply your change to it and send it with that ETag.",
    "resolutionSv": "Läs posten igen (svaret har dess aktuella ETag), gör din ändring på den och skicka den med den ETag:en."}))]
pub struct ProblemType {
    /// The URI a problem document names in `type`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// The HTTP status the problem comes with.
    pub status: u16,
    pub title: &'static str,
    pub title_sv: &'static str,
    /// What it means and when it happens.
    pub description: &'static str,
    pub description_sv: &'static str,
    /// What to do about it.
    pub resolution: &'static str,
    pub resolution_sv: &'static str,
}

macro_rules! problem_types {
    ($($slug:literal $status:literal [$title:literal, $title_sv:literal]
        [$description:literal, $description_sv:literal]
        [$resolution:literal, $resolution_sv:literal])+) => {
        /// Every problem type this service sends.
        pub const PROBLEM_TYPES: &[ProblemType] = &[$(ProblemType {
            type_: concat!("/problems/", $slug),
            status: $status,
            title: $title,
            title_sv: $title_sv,
            description: $description,
            description_sv: $description_sv,
            resolution: $resolution,
            resolution_sv: $resolution_sv,
        }),+];
    };
}

problem_types! {
    "validation-failed" 400 ["Your request parameters didn't validate", "Begäran innehåller fel"]
        ["A parameter, a body member or a line of a file breaks a rule. `violations` lists every one of them with its field (and, for a file, its line) and what is wrong. Nothing was changed.",
         "En parameter, ett fält i kroppen eller en rad i en fil bryter mot en regel. `violations` listar varje fel med fält (och, för en fil, rad) och vad som är fel. Ingenting har ändrats."]
        ["Correct the fields named in `violations` and send the request again.",
         "Rätta fälten i `violations` och skicka begäran igen."]
    "bad-request" 400 ["The request could not be understood", "Begäran kunde inte förstås"]
        ["The request is not valid HTTP, its body cannot be read as the media type it claims, or a header is malformed.",
         "Begäran är inte giltig HTTP, kroppen går inte att läsa som den medietyp den anger, eller ett huvud är felformat."]
        ["Check the request against the OpenAPI document (/v1/openapi.json); `detail` says what could not be read.",
         "Jämför begäran med OpenAPI-dokumentet (/v1/openapi.json); `detail` säger vad som inte gick att läsa."]
    "not-found" 404 ["Resource not found", "Resursen finns inte"]
        ["No record has this id (it may have been deleted), or no resource lives at this path.",
         "Ingen post har detta id (den kan ha tagits bort), eller så finns ingen resurs på denna sökväg."]
        ["Check the id and the path. A record that was deleted is in the change feed (/v1/changes) as a deletion.",
         "Kontrollera id och sökväg. En borttagen post finns i ändringsflödet (/v1/changes) som en borttagning."]
    "method-not-allowed" 405 ["Method not allowed", "Metoden är inte tillåten"]
        ["The resource exists, but not with this HTTP method. The `Allow` header lists the methods it has.",
         "Resursen finns, men inte med denna HTTP-metod. Huvudet `Allow` listar de metoder den har."]
        ["Use one of the methods in `Allow`.", "Använd en av metoderna i `Allow`."]
    "not-acceptable" 406 ["Not acceptable", "Formatet kan inte levereras"]
        ["The `Accept` header asks for a format this resource cannot give (a report comes as JSON, CSV or HTML; a list as JSON, CSV or NDJSON).",
         "Huvudet `Accept` ber om ett format som resursen inte kan ge (en rapport finns som JSON, CSV eller HTML; en lista som JSON, CSV eller NDJSON)."]
        ["Ask for one of the formats `detail` names, or leave `Accept` out for JSON.",
         "Be om ett av formaten i `detail`, eller utelämna `Accept` för JSON."]
    "payload-too-large" 413 ["Request body too large", "Begärans kropp är för stor"]
        ["The body is larger than this operation accepts (a JSON body 64 KiB, a bulk load 200 MiB by default).",
         "Kroppen är större än operationen tar emot (en JSON-kropp 64 KiB, en massinläsning 200 MiB som standard)."]
        ["Send less: split a large file into several loads.", "Skicka mindre: dela upp en stor fil i flera inläsningar."]
    "unsupported-media-type" 415 ["Unsupported media type", "Medietypen stöds inte"]
        ["The `Content-Type` of the body is not one this operation reads (JSON; for bulk loads CSV or NDJSON; for a patch `application/merge-patch+json` or JSON).",
         "Kroppens `Content-Type` är inte en som operationen läser (JSON; för massinläsning CSV eller NDJSON; för en ändring `application/merge-patch+json` eller JSON)."]
        ["Send the body with one of the media types `detail` names.", "Skicka kroppen med en av medietyperna i `detail`."]
    "unauthorized" 401 ["Authentication required", "Inloggning krävs"]
        ["The request has no bearer token, or its token is expired, altered, or made for another service. `WWW-Authenticate` says which.",
         "Begäran saknar åtkomsttoken, eller så har token gått ut, ändrats eller gjorts för en annan tjänst. `WWW-Authenticate` säger vilket."]
        ["Get a token from /v1/oauth/token (client credentials) or sign in again, and send it as `Authorization: Bearer …`. Tokens live 15 minutes: get a new one before it expires.",
         "Hämta en token från /v1/oauth/token (klientuppgifter) eller logga in igen och skicka den som `Authorization: Bearer …`. En token gäller i 15 minuter: hämta en ny innan den går ut."]
    "forbidden" 403 ["Forbidden", "Åtkomst nekad"]
        ["The token is valid but does not allow this: it lacks the scope the operation needs, or the client is bound to another municipality than the record's.",
         "Token är giltig men tillåter inte detta: den saknar behörigheten (scope) som operationen kräver, eller så är klienten knuten till en annan kommun än postens."]
        ["Ask the association's administrator for a client with the scope `detail` names; a municipality's client changes only that municipality's records.",
         "Be förbundets administratör om en klient med behörigheten i `detail`; en kommuns klient ändrar bara den kommunens poster."]
    "conflict" 409 ["Conflict with the current state", "Krock med nuvarande läge"]
        ["The change contradicts the record's current state: a duplicate external reference or name, a status change the lifecycle does not allow, or the same request already being processed.",
         "Ändringen strider mot postens nuvarande läge: en dubblett av extern referens eller namn, en statusändring som livscykeln inte tillåter, eller samma begäran som redan behandlas."]
        ["Read the record's current state and decide again; `detail` names the conflict. A request still in progress answers after `Retry-After` seconds.",
         "Läs postens nuvarande läge och bestäm på nytt; `detail` anger krocken. En begäran som fortfarande pågår besvaras efter `Retry-After` sekunder."]
    "cursor-expired" 410 ["Cursor expired", "Markören har gått ut"]
        ["The change-feed cursor points before what the feed still keeps (deletions are kept 30 days by default): changes after it may be lost to you.",
         "Ändringsflödets markör pekar före det som flödet fortfarande sparar (borttagningar sparas 30 dagar som standard): ändringar efter den kan ha gått förlorade för dig."]
        ["Read the whole collection again (the lists, or an export), then follow the feed from its current head.",
         "Läs hela samlingen igen (listorna eller en export) och följ sedan flödet från dess nuvarande slut."]
    "link-gone" 410 ["Link no longer valid", "Länken gäller inte längre"]
        ["The report link was revoked or has expired.", "Rapportlänken har återkallats eller gått ut."]
        ["Ask the person who shared it for a new link.", "Be den som delade länken om en ny."]
    "idempotency-key-reused" 422 ["Idempotency key reused", "Idempotensnyckeln återanvänd"]
        ["This `Idempotency-Key` was used before with another request (another body, method or path). A key names one request only.",
         "Denna `Idempotency-Key` har använts förut med en annan begäran (annan kropp, metod eller sökväg). En nyckel hör till en enda begäran."]
        ["Make a new key (a UUID) for every new request; repeat a key only to retry the very same request.",
         "Skapa en ny nyckel (ett UUID) för varje ny begäran; upprepa en nyckel bara för att försöka samma begäran igen."]
    "precondition-failed" 412 ["Precondition failed", "Villkoret uppfylls inte"]
        ["The If-Match you sent names a version that is no longer the current one: someone changed the record after you read it. The answer's `ETag` is the current version.",
         "If-Match anger en version som inte längre är den aktuella: någon har ändrat posten sedan du läste den. Svarets `ETag` är den aktuella versionen."]
        ["Read the record again, apply your change to it and send it with the new ETag.",
         "Läs posten igen, gör din ändring på den och skicka den med den nya ETag:en."]
    "precondition-required" 428 ["Precondition required", "Villkor krävs"]
        ["Changing this record needs `If-Match` with its current ETag, so that no one's change is overwritten unseen.",
         "För att ändra posten krävs `If-Match` med dess aktuella ETag, så att ingens ändring skrivs över osedd."]
        ["GET the record, then send the change with `If-Match: <its ETag>`.",
         "Hämta posten med GET och skicka sedan ändringen med `If-Match: <dess ETag>`."]
    "too-many-requests" 429 ["Too many requests", "För många anrop"]
        ["The client went over a budget: writes or token requests per minute, or requests, long polls or exports open at once.",
         "Klienten har överskridit en gräns: skrivningar eller tokenanrop per minut, eller samtidiga anrop, långa anrop eller exporter."]
        ["Wait the seconds `Retry-After` says, then go on more slowly; reuse a token until it expires instead of asking for one per request.",
         "Vänta det antal sekunder som `Retry-After` anger och fortsätt sedan i lugnare takt; återanvänd en token tills den går ut i stället för att hämta en per anrop."]
    "request-timeout" 408 ["Request timeout", "Begäran tog för lång tid"]
        ["The request (its head, or its body) did not arrive in time, or it took longer to answer than the service allows.",
         "Begäran (dess huvud eller kropp) kom inte fram i tid, eller tog längre tid att besvara än tjänsten tillåter."]
        ["Send it again; for a large load, send it without pauses.", "Skicka den igen; skicka en stor inläsning utan uppehåll."]
    "request-header-fields-too-large" 431 ["Request header fields too large", "Begärans huvuden är för stora"]
        ["The request head is too large: more than 96 header fields or 128 KiB.",
         "Begärans huvud är för stort: fler än 96 fält eller större än 128 KiB."]
        ["Send fewer or smaller headers (cookies are not needed by this API).",
         "Skicka färre eller mindre huvuden (API:et behöver inga kakor)."]
    "service-unavailable" 503 ["Service temporarily unavailable", "Tjänsten är tillfälligt otillgänglig"]
        ["The database cannot be reached right now, or every connection is busy. Nothing was changed.",
         "Databasen kan inte nås just nu, eller så är alla anslutningar upptagna. Ingenting har ändrats."]
        ["Try again after `Retry-After` seconds, with the same `Idempotency-Key` for a write.",
         "Försök igen efter `Retry-After` sekunder, med samma `Idempotency-Key` för en skrivning."]
    "internal-error" 500 ["Internal server error", "Internt fel"]
        ["Something failed in the service that should not have. It is logged with the request's `requestId`.",
         "Något i tjänsten gick fel som inte borde ha gått fel. Det är loggat med begärans `requestId`."]
        ["Tell the association's operations team the `requestId`; retrying a write with the same `Idempotency-Key` is safe.",
         "Meddela förbundets driftansvariga begärans `requestId`; att försöka en skrivning igen med samma `Idempotency-Key` är säkert."]
    "oauth-invalid-request" 400 ["Invalid token request", "Ogiltig tokenbegäran"]
        ["The token request lacks a parameter or has one twice (RFC 6749 §5.2: `invalid_request`).",
         "Tokenbegäran saknar en parameter eller har en två gånger (RFC 6749 §5.2: `invalid_request`)."]
        ["Send `grant_type=client_credentials` with the client's id and secret, as a form or with HTTP Basic.",
         "Skicka `grant_type=client_credentials` med klientens id och hemlighet, som formulär eller med HTTP Basic."]
    "oauth-invalid-client" 401 ["Client authentication failed", "Klienten kunde inte autentiseras"]
        ["The client id is unknown, the secret is wrong, or the client is disabled (`invalid_client`).",
         "Klient-id:t är okänt, hemligheten fel, eller så är klienten avstängd (`invalid_client`)."]
        ["Check the id and secret; ask the administrator whether the client is still enabled.",
         "Kontrollera id och hemlighet; fråga administratören om klienten fortfarande är aktiv."]
    "oauth-unauthorized-client" 400 ["Client not allowed this grant", "Klienten får inte använda detta flöde"]
        ["The client may not use this grant type (`unauthorized_client`).",
         "Klienten får inte använda denna typ av tillstånd (`unauthorized_client`)."]
        ["Use `grant_type=client_credentials`.", "Använd `grant_type=client_credentials`."]
    "oauth-unsupported-grant-type" 400 ["Unsupported grant type", "Flödet stöds inte"]
        ["Only the client credentials grant is offered here (`unsupported_grant_type`); people sign in with their organisation's identity provider.",
         "Här erbjuds bara klientuppgifter (`unsupported_grant_type`); personer loggar in via sin organisations identitetsleverantör."]
        ["Use `grant_type=client_credentials`.", "Använd `grant_type=client_credentials`."]
    "oauth-invalid-scope" 400 ["Invalid scope", "Ogiltig behörighet"]
        ["The `scope` asked for is unknown or more than the client has (`invalid_scope`).",
         "Den begärda behörigheten (`scope`) är okänd eller mer än klienten har (`invalid_scope`)."]
        ["Ask for scopes the client has (read, write, import, admin, metrics), or leave `scope` out for all of them.",
         "Be om behörigheter som klienten har (read, write, import, admin, metrics), eller utelämna `scope` för alla."]
}

/// The problem type of a `type` URI's last segment.
pub fn find(slug: &str) -> Option<&'static ProblemType> {
    PROBLEM_TYPES
        .iter()
        .find(|p| p.type_.strip_prefix("/problems/") == Some(slug))
}

/// Whether the request prefers an HTML page (a browser) to JSON.
fn wants_html(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && !accept.trim_start().starts_with("application/json")
}

/// `code` spans for the text's backquoted parts.
fn prose(text: &str) -> String {
    esc(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// A page of the service's own documentation (problem types, terms of use), Swedish first.
pub(crate) fn html_page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::VARY, "Accept"))
        .body(format!(
            "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\"><title>{}</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:48rem;line-height:1.5;color:#1b1b1b}}\
             code{{background:#f2f2f2;padding:0 .2rem}}section{{margin-bottom:1.5rem}}.muted{{color:#555}}</style></head>\
             <body>{body}<p class=\"muted\">Kommunförbundet Västernorrland · Samverkan API · \
             <a href=\"/problems\">Alla feltyper / all problem types</a> · <a href=\"/terms\">Villkor / terms</a> · <a href=\"/docs/\">API-dokumentation</a></p></body></html>",
            esc(title)
        ))
}

fn json(value: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::VARY, "Accept"))
        .json(value)
}

fn section(p: &ProblemType) -> String {
    format!(
        "<section id=\"{slug}\"><h2 lang=\"sv\">{status} {title_sv}</h2>\
         <p lang=\"sv\">{d_sv}</p><p lang=\"sv\"><strong>Vad du gör:</strong> {r_sv}</p>\
         <h3 lang=\"en\">{title}</h3><p lang=\"en\">{d}</p><p lang=\"en\"><strong>What to do:</strong> {r}</p>\
         <p class=\"muted\"><code>\"type\": \"{type_}\"</code></p></section>",
        slug = p.type_.trim_start_matches("/problems/"),
        status = p.status,
        title_sv = esc(p.title_sv),
        d_sv = prose(p.description_sv),
        r_sv = prose(p.resolution_sv),
        title = esc(p.title),
        d = prose(p.description),
        r = prose(p.resolution),
        type_ = p.type_,
    )
}

/// The problem types
///
/// Every problem type this service sends, with what it means and what to do, in Swedish and
/// English: JSON, or an HTML page for a browser (`Accept: text/html`). Needs no authentication.
#[utoipa::path(
    operation_id = "listProblemTypes",
    tag = "Meta",
    responses(
        (status = 200, description = "Every problem type",
            content((Vec<ProblemType> = "application/json", example = json!([{
                "type": "/problems/precondition-failed", "status": 412,
                "title": "Precondition failed", "titleSv": "Villkoret uppfylls inte",
                "description": "The If-Match you sent names a version that is no longer the current one: someone changed the record after you read it.",
                "descriptionSv": "If-Match anger en version som inte längre är den aktuella: någon har ändrat posten sedan du läste den.",
                "resolution": "Read the record again (the answer carries its current ETag), apply your change to it and send it with that ETag.",
                "resolutionSv": "Läs posten igen (svaret har dess aktuella ETag), gör din ändring på den och skicka den med den ETag:en."}])),
                (String = "text/html"))),
    ),
)]
#[get("/problems")]
pub async fn list_problem_types(req: HttpRequest) -> HttpResponse {
    if wants_html(&req) {
        let body: String = PROBLEM_TYPES.iter().map(section).collect();
        return html_page(
            "Feltyper – Samverkan API",
            &format!(
                "<h1>Feltyper / Problem types</h1><p>Varje fel från Samverkan API är ett \
                 problemdokument (RFC 9457) vars <code>type</code> pekar hit. Every error of \
                 Samverkan API is a problem document (RFC 9457) whose <code>type</code> points here.</p>{body}"
            ),
        );
    }
    json(&PROBLEM_TYPES)
}

/// A problem type
///
/// What the problem type means, when it happens and what to do about it, in Swedish and
/// English: the page a problem document's `type` URI names. JSON, or HTML for a browser.
/// Needs no authentication.
#[utoipa::path(
    operation_id = "getProblemType",
    tag = "Meta",
    params(("slug" = String, Path, description = "The problem type's name, the last segment of its `type`",
        example = "precondition-failed", pattern = "^[a-z-]{1,64}$")),
    responses(
        (status = 200, description = "The problem type",
            content((ProblemType = "application/json"), (String = "text/html"))),
        NotFound,
    ),
)]
#[get("/problems/{slug}")]
pub async fn get_problem_type(
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let problem = find(&slug).ok_or_else(|| {
        ApiError::not_found(format!(
            "Problem type {} (see /problems)",
            slug.chars().take(64).collect::<String>()
        ))
    })?;
    Ok(if wants_html(&req) {
        html_page(
            &format!("{} – Samverkan API", problem.title_sv),
            &format!("<h1>Feltyp / Problem type</h1>{}", section(problem)),
        )
    } else {
        json(problem)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_the_service_sends_is_documented() {
        let errors = [
            ApiError::Validation(Vec::new()),
            ApiError::BadRequest(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed(Vec::new()),
            ApiError::NotAcceptable(String::new()),
            ApiError::PayloadTooLarge(1),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::Gone(String::new()),
            ApiError::LinkGone(String::new()),
            ApiError::IdempotencyMismatch,
            ApiError::PreconditionFailed(String::new()),
            ApiError::PreconditionRequired,
            ApiError::TooManyRequests(1),
            ApiError::InProgress(1),
            ApiError::RequestTimeout(String::new()),
            ApiError::Unavailable(String::new()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        for e in &errors {
            let problem = e.problem();
            let documented = find(problem.type_.trim_start_matches("/problems/"))
                .unwrap_or_else(|| panic!("{} is not documented", problem.type_));
            assert_eq!(documented.status, problem.status, "{}", problem.type_);
        }
        // The front door's and the token endpoint's own.
        for slug in [
            "request-header-fields-too-large",
            "oauth-invalid-request",
            "oauth-invalid-client",
            "oauth-unauthorized-client",
            "oauth-unsupported-grant-type",
            "oauth-invalid-scope",
        ] {
            assert!(find(slug).is_some(), "{slug} is not documented");
        }
        let mut slugs: Vec<&str> = PROBLEM_TYPES.iter().map(|p| p.type_).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), PROBLEM_TYPES.len(), "each type once");
    }
}
