/** @module GET /stats: client, isolate and topic counts as JSON. */
import { json } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

function stats(context: RouteContext): Response {
  return json(context.hub.stats());
}

/** The method table of `/stats`. */
export const handlers: MethodTable = { GET: stats };
