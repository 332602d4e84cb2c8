// Typed calls against a live service, through a client generated from openapi/openapi.json.
// Every call must compile without casts and get the answer its type promises.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const base = process.env.BASE_URL ?? "http://127.0.0.1:18080";
const token = process.env.TOKEN;
if (!token) throw new Error("TOKEN (a bearer token with read, write and admin) is required");

const api = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
let checks = 0;
function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
  checks += 1;
}

// A list answers JSON, CSV or NDJSON, and its type says so; JSON is what these calls ask for.
function jsonPage<T extends object>(data: T | string | undefined): Extract<T, { items: unknown }> {
  if (typeof data === "object" && data !== null && "items" in data) return data as Extract<T, { items: unknown }>;
  throw new Error("expected a JSON page");
}

const municipalities = jsonPage((await api.GET("/v1/municipalities", { params: { query: { sort: "-name", limit: 10 } } })).data);
expect(municipalities.items.length === 7, "seven municipalities");
expect(municipalities._meta.totalRecords === 7, "totalRecords is 7");

const sundsvall = await api.GET("/v1/municipalities/{municipalityId}", { params: { path: { municipalityId: "2281" } } });
expect(sundsvall.data?.name === "Sundsvall", "2281 is Sundsvall");

const name = `Typad klient ${Date.now()}`;
const created = await api.POST("/v1/areas", { body: { name, description: "Skapad av den typade klienten." } });
expect(created.response.status === 201 && created.data?.name === name, "area created");
const area = created.data!;
const etag = created.response.headers.get("ETag") ?? "";
expect(etag === `"${area.version}"`, "ETag is the quoted version");

const changed = await api.PATCH("/v1/areas/{id}", {
  params: { path: { id: area.id }, header: { "If-Match": etag } },
  body: { description: "Ändrad av den typade klienten." },
  headers: { "Content-Type": "application/merge-patch+json" },
});
expect(changed.data?.version === area.version + 1, "area changed, version moved");

const stale = await api.PATCH("/v1/areas/{id}", {
  params: { path: { id: area.id }, header: { "If-Match": etag } },
  body: { description: "För sent." },
  headers: { "Content-Type": "application/merge-patch+json" },
});
expect(stale.response.status === 412 && stale.error?.status === 412, "stale If-Match is 412, typed as a problem");

const pushed = await api.PUT("/v1/networks/by-external-id/{system}/{externalId}", {
  params: { path: { system: "typad-klient", externalId: `N-${Date.now()}` } },
  body: { name: `Typat nätverk ${Date.now()}`, kind: "staff", municipalityIds: ["2281", "2262"] },
});
expect(pushed.response.status === 201 && pushed.data?.kind === "staff", "network pushed by external id");

const networks = await api.GET("/v1/networks", {
  params: { query: { externalSystem: "typad-klient", sort: "-updatedAt", limit: 5 } },
});
const page = jsonPage(networks.data);
expect(page.items.some((n) => n.id === pushed.data?.id), "the pushed network is listed");

const members = await api.POST("/v1/networks/{id}/members", {
  params: { path: { id: pushed.data!.id } },
  body: { name: "Anna Lindqvist", email: "anna.lindqvist@example.se", municipalityId: "2281" },
});
expect(members.response.status === 201 && members.data?.name === "Anna Lindqvist", "member added");

const gone = await api.DELETE("/v1/areas/{id}", {
  params: { path: { id: area.id }, header: { "If-Match": `"${changed.data!.version}"` } },
});
expect(gone.response.status === 204, "area deleted");

const missing = await api.GET("/v1/areas/{id}", { params: { path: { id: area.id } } });
expect(missing.response.status === 404 && missing.error?.type === "/problems/not-found", "deleted area is 404");

const event = await api.POST("/v1/events", {
  body: {
    title: "Typad utbildning", kind: "training", startsAt: "2031-03-24T09:00:00+01:00",
    endsAt: "2031-03-24T12:00:00+01:00", municipalityIds: ["2281"], capacity: 1,
  },
});
expect(event.response.status === 201 && event.data?.startsAt === "2031-03-24T08:00:00Z", "event created, in UTC");
const first = await api.POST("/v1/events/{id}/registrations", {
  params: { path: { id: event.data!.id } },
  body: { name: "Karin Nilsson", email: `karin.${Date.now()}@example.se`, municipalityId: "2281" },
});
const second = await api.POST("/v1/events/{id}/registrations", {
  params: { path: { id: event.data!.id } },
  body: { name: "Per Ek", email: `per.${Date.now()}@example.se` },
});
expect(first.data?.status === "confirmed" && second.data?.status === "waitlisted", "one place, then the waiting list");
const calendar = await api.GET("/v1/events/calendar", { params: { query: { municipalityId: "2281" } }, parseAs: "text" });
expect(typeof calendar.data === "string" && calendar.data.includes(`UID:${event.data!.id}`), "the event is in the calendar");

console.log(`typed client: ${checks} checks passed against ${base}`);
