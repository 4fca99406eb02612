/**
 * @module `GET /healthz` (the process answers) and `GET /readyz` (the engine
 * is connected and the hub takes publishes; 503 with the reason otherwise).
 * Both are cheap, need no auth, and are never cached.
 */
import { json } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

function healthz(): Response {
  return json({ status: "ok" });
}

function readyz(context: RouteContext): Response {
  const reason = context.hub.unready();
  if (reason === null) return json({ status: "ready" });
  return json({ status: "unready", reason }, {
    status: 503,
    headers: { "retry-after": "1" },
  });
}

/** The method table of `/healthz`. */
export const healthzHandlers: MethodTable = { GET: healthz };

/** The method table of `/readyz`. */
export const readyzHandlers: MethodTable = { GET: readyz };
