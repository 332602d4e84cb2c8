//! The terms of use (`info.termsOfService`): who may use the API, how personal data in it is
//! handled, fair use, what stays stable within `/v1`, and where availability and support are
//! set; in Swedish and English, one page, no token needed.

use actix_web::{HttpResponse, get};

use crate::app::problems::html_page;

/// Where the terms are served; the OpenAPI document links here.
pub const PATH: &str = "/terms";

/// The terms, Swedish first. What they say of the service is what it does (the limits are the
/// defaults of `SAMVERKAN_RATE_LIMIT_*` and `SAMVERKAN_TOMBSTONE_RETENTION_DAYS`).
const TERMS: &str = r#"<h1>Användarvillkor / Terms of use</h1>
<section lang="sv">
<h2>Villkor för Samverkan API</h2>
<h3>1. Vem som får använda API:t</h3>
<p>Ett system (till exempel en kommuns intranät) använder API:t med en egen API-klient, som
förbundets administratörer skapar med de behörigheter (<code>read</code>, <code>write</code>,
<code>import</code>, <code>admin</code>) och den kommun systemet behöver. Medarbetare loggar in
med sin organisations identitetstjänst. Klientens hemlighet hör till ett system: den hålls hemlig,
skrivs aldrig i kod, länkar eller loggar, och om den kan ha läckt ber ni en administratör byta eller
spärra den.</p>
<h3>2. Personuppgifter</h3>
<p>Nätverkens medlemmar och anmälningarna till arrangemang är personuppgifter. Vem som sitter i
vilket nätverk (namn och titel) ser alla som får läsa. Medlemmarnas e-post och telefon och
anmälningarnas namn och e-post ser bara administratörer och skrivande klienter för förbundet eller
personens egen kommun; ändringsflödet, webhooks, sökningen och kalendrarna innehåller dem aldrig.
Ett system som tar emot personuppgifter behandlar dem enligt dataskyddsförordningen (GDPR), bara
för det ändamål de lämnades för (nätverkens och arrangemangens administration), och sparar dem
inte längre än det behöver. Ett system som speglar data tar bort det som ändringsflödet raderar
(<code>op: delete</code>) utan dröjsmål; så når en radering enligt artikel 17 också kopiorna.</p>
<h3>3. Rimlig användning</h3>
<p>Gränserna skyddar alla användare och gäller per klient: som standard 1 200 skrivningar och 30
tokenförfrågningar i minuten, och ett begränsat antal samtidiga förfrågningar. Svaret 429 har
<code>Retry-After</code>: vänta så länge innan ni försöker igen. Hämta hela samlingar med
<code>after</code>-markören och ändringar med ändringsflödet eller webhooks i stället för att
läsa listor om och om igen; skicka <code>If-None-Match</code> så kostar en oförändrad post ingenting.
Stora datamängder läses in med <code>/v1/imports</code>.</p>
<h3>4. Stabilitet och versioner</h3>
<p>Inom <code>/v1</code> är ändringar tillägg: nya operationer, nya valfria parametrar, nya fält i
svar och nya värden i uppräkningar kan komma, och ett system ska bortse från det det inte känner
till. En ändring som skulle bryta ett befintligt system kommer bara under en ny bassökväg
(<code>/v2</code>), och <code>/v1</code> finns kvar bredvid den tills dess användare har gått över.
Ändringsflödets raderingar finns kvar i 30 dagar; en markör som är äldre får 410 och börjar om.</p>
<h3>5. Tillgänglighet och support</h3>
<p>Tillgänglighet, driftfönster och support bestäms av den organisation som driver installationen
(se <code>info.x-sla</code> och <code>info.contact</code> i OpenAPI-dokumentet). Varje svar har
<code>X-Request-Id</code>: ange det när ni rapporterar ett fel. Varje feltyp förklaras på
<a href="/problems">/problems</a>.</p>
</section>
<section lang="en">
<h2>Terms of use of Samverkan API</h2>
<h3>1. Who may use the API</h3>
<p>A system (a municipality's intranet, say) uses the API with an API client of its own, which the
association's administrators create with the scopes (<code>read</code>, <code>write</code>,
<code>import</code>, <code>admin</code>) and the municipality the system needs. Staff sign in
with their organisation's identity provider. A client's secret belongs to one system: keep it
secret, never put it in code, links or logs, and if it may have leaked, ask an administrator to
replace or disable it.</p>
<h3>2. Personal data</h3>
<p>The networks' members and the registrations for events are personal data. Who sits in
which network (name and title) every reader sees. Members' e-mail and phone, and registrations'
names and e-mail, only administrators and writing clients of the association or the person's own
municipality see; the change feed, webhooks, search and calendars never carry them. A system
that receives personal data processes it under the GDPR, only for the purpose it was shared for
(the administration of the networks and the events), and keeps it no longer than it needs to. A
system that mirrors the data removes what the change feed deletes (<code>op: delete</code>)
without delay; that is how an erasure under Article 17 reaches the copies too.</p>
<h3>3. Fair use</h3>
<p>The limits protect every user and apply per client: by default 1 200 writes and 30 token
requests a minute, and a bounded number of requests at once. A 429 carries
<code>Retry-After</code>: wait that long before trying again. Walk whole collections with the
<code>after</code> cursor and follow changes with the change feed or webhooks rather than reading
lists again and again; send <code>If-None-Match</code>, so that an unchanged record costs
nothing. Load large amounts of data through <code>/v1/imports</code>.</p>
<h3>4. Stability and versions</h3>
<p>Within <code>/v1</code>, changes are additions: new operations, new optional parameters, new
members in answers and new values in enumerations may appear, and a system ignores what it does
not know. A change that would break an existing system comes only under a new base path
(<code>/v2</code>), and <code>/v1</code> stays beside it until its users have moved. The change
feed keeps deletions for 30 days; an older cursor gets 410 and starts again.</p>
<h3>5. Availability and support</h3>
<p>Availability, maintenance windows and support are set by the organisation that operates the
installation (see <code>info.x-sla</code> and <code>info.contact</code> in the OpenAPI
document). Every answer carries <code>X-Request-Id</code>: name it when you report an error. Each
problem type is explained at <a href="/problems">/problems</a>.</p>
</section>"#;

/// Terms of use
///
/// The terms of use of this API, in Swedish and English, as an HTML page: who may use it, how
/// the personal data in it is handled, fair use and its limits, what stays stable within
/// `/v1`, and who sets availability and support. The OpenAPI document's
/// `info.termsOfService` links here. Needs no authentication.
#[utoipa::path(
    operation_id = "getTermsOfUse",
    tag = "Meta",
    responses(
        (status = 200, description = "The terms of use (HTML)",
            content((String = "text/html",
                example = "<!DOCTYPE html><html lang=\"sv\">…<h1>Användarvillkor / Terms of use</h1>…</html>"))),
    ),
)]
#[get("/terms")]
pub async fn get_terms() -> HttpResponse {
    html_page("Användarvillkor – Samverkan API", TERMS)
}
