/**
 * @module GET /metrics: herald's counts in the Prometheus text format 0.0.4
 * (lib/metrics.ts), counters summed across isolates. When `METRICS_TOKEN` is set it needs
 * `Authorization: Bearer <token>`.
 */
import { METRICS_CONTENT_TYPE, renderMetrics } from "../lib/metrics.ts";
import { timingSafeEqual } from "../lib/timing_safe_equal.ts";
import { jsonError } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

function metrics(context: RouteContext): Response {
  const token = context.config.metricsToken;
  if (token !== null) {
    const given = context.request.headers.get("authorization") ?? "";
    if (!timingSafeEqual(given, `Bearer ${token}`)) {
      return jsonError(
        401,
        "Cannot read /metrics: a valid bearer token is needed",
        {
          "www-authenticate": 'Bearer realm="herald metrics"',
        },
      );
    }
  }
  const body = renderMetrics({
    stats: context.hub.stats(),
    totals: context.hub.totals(),
    history: context.hub.historyCounts(),
    delivery: context.hub.delivery(),
    ready: context.hub.unready() === null,
  });
  return new Response(body, {
    headers: {
      "content-type": METRICS_CONTENT_TYPE,
      "cache-control": "no-store",
    },
  });
}

/** The method table of `/metrics`. */
export const handlers: MethodTable = { GET: metrics };
