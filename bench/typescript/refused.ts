// Requests the server refuses on their shape must not compile. Each `@ts-expect-error` fails
// the type check if the line below it compiles, that is, if the document lets a typed client
// build a request the server would refuse.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:1" });
const id = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002";

export async function refused(): Promise<void> {
  // A change without If-Match (the server answers 428).
  // @ts-expect-error If-Match is a required header
  await api.PATCH("/v1/areas/{id}", { params: { path: { id } }, body: { name: "X" } });
  // A delete without If-Match.
  // @ts-expect-error If-Match is a required header
  await api.DELETE("/v1/networks/{id}", { params: { path: { id } } });
  // A network of a kind that does not exist (400).
  // @ts-expect-error kind is an enum
  await api.POST("/v1/networks", { body: { name: "N", kind: "club", municipalityIds: ["2281"] } });
  // A network without its required name.
  // @ts-expect-error name is required
  await api.POST("/v1/networks", { body: { kind: "staff", municipalityIds: ["2281"] } });
  // A field the server does not know (bodies refuse unknown fields: 400; the schema says
  // additionalProperties: false, which TypeScript checks on a literal of the body's type).
  // @ts-expect-error no additional properties
  const body: components["schemas"]["NewArea"] = { name: "A", colour: "red" };
  await api.POST("/v1/areas", { body });
  // A patch that sets a required member to null (400).
  // @ts-expect-error name may not be null
  await api.PATCH("/v1/areas/{id}", { params: { path: { id }, header: { "If-Match": "\"1\"" } }, body: { name: null } });
  // A feedback rating that is not a number.
  // @ts-expect-error rating is an integer
  await api.POST("/v1/feedback", { body: { year: 2022, goal: "focus", networkId: id, rating: "five" } });
  // An assignment status that does not exist.
  // @ts-expect-error status is an enum
  await api.POST("/v1/assignments/{id}/transitions", { params: { path: { id } }, body: { to: "finished" } });
  // An unknown query parameter.
  // @ts-expect-error no such filter
  await api.GET("/v1/feedback", { params: { query: { colour: "red" } } });
  // A report format that is not offered.
  // @ts-expect-error format is an enum
  await api.GET("/v1/reports/annual/{year}", { params: { path: { year: 2022 }, query: { format: "pdf" } } });
}
