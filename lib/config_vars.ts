/**
 * @module The environment variables herald reads, with their defaults and a
 * one-line meaning each: what `deno task start --help` prints. A test checks
 * that every variable lib/config.ts and the launcher read is listed. Web-only.
 */

/** One environment variable: its name, its default as text, and what it does. */
export interface ConfigVar {
  /** The variable's name, e.g. `PORT`. */
  readonly name: string;
  /** Its default, as an operator would type it; "unset" when there is none. */
  readonly fallback: string;
  /** What it sets, in a few words. */
  readonly meaning: string;
}

/** Every variable herald reads, in the order of the README's table. */
export const CONFIG_VARS: readonly ConfigVar[] = Object.freeze([
  {
    name: "PORT",
    fallback: "8000",
    meaning: "listen port (0 picks a free one)",
  },
  {
    name: "HERALD_HOSTNAME",
    fallback: "unset",
    meaning: "listen address or host name; wins over HOSTNAME",
  },
  {
    name: "HOSTNAME",
    fallback: "0.0.0.0",
    meaning:
      "listen address or host name; ignored when it is this machine's own name (what Docker and Podman set)",
  },
  {
    name: "UPDATE_INTERVAL_MS",
    fallback: "3000",
    meaning: "period of the update event (0 = off)",
  },
  {
    name: "HEARTBEAT_MS",
    fallback: "15000",
    meaning: "period of keep-alive comments (0 = off)",
  },
  {
    name: "RETRY_MS",
    fallback: "5000",
    meaning: "the retry: sent when a stream opens",
  },
  {
    name: "HISTORY_SIZE",
    fallback: "1000",
    meaning: "events kept per topic for replay (0 = none)",
  },
  {
    name: "HISTORY_MAX_BYTES",
    fallback: "67108864",
    meaning: "bytes the replay history may hold in all (memory, or KV)",
  },
  {
    name: "PUBLISH_TOKEN",
    fallback: "unset",
    meaning: "when set, POST /message needs Authorization: Bearer <token>",
  },
  {
    name: "ALLOWED_ORIGINS",
    fallback: "*",
    meaning: "CORS allow-list, comma separated origins",
  },
  {
    name: "MAX_MESSAGE_BYTES",
    fallback: "65536",
    meaning: "largest accepted POST body",
  },
  {
    name: "MAX_CLIENTS",
    fallback: "10000",
    meaning: "streams one isolate holds before it answers 503",
  },
  {
    name: "MAX_TOPICS_PER_STREAM",
    fallback: "16",
    meaning: "topics one stream may follow",
  },
  {
    name: "MAX_QUEUED_BYTES",
    fallback: "262144",
    meaning: "bytes queued for one slow reader before it is cut off",
  },
  {
    name: "REDIS_URL",
    fallback: "unset",
    meaning: "redis:// or rediss:// URL: Redis Streams as bus and history",
  },
  {
    name: "KV_PATH",
    fallback: "unset",
    meaning:
      "a Deno KV file: KV as bus and history (history survives restarts)",
  },
  {
    name: "ENGINE",
    fallback: "derived",
    meaning:
      "memory, redis or kv; unset: redis with REDIS_URL, kv with KV_PATH, else memory",
  },
  {
    name: "HISTORY_MAX_AGE_MS",
    fallback: "0",
    meaning: "kv engine: also trim events older than this (0 = by count)",
  },
  {
    name: "JWT_SECRET",
    fallback: "unset",
    meaning: "HMAC secret (32 bytes or more): verify tokens, private topics",
  },
  {
    name: "JWT_PUBLIC_KEY",
    fallback: "unset",
    meaning: "instead: a public key, PEM SPKI or JWK",
  },
  {
    name: "JWKS_URL",
    fallback: "unset",
    meaning: "instead: a JWKS URL (https, or http on loopback)",
  },
  {
    name: "JWT_ALGORITHMS",
    fallback: "by key",
    meaning: "accepted algs, comma separated",
  },
  {
    name: "JWT_ISSUER",
    fallback: "unset",
    meaning: "when set, tokens need this iss (several: comma separated)",
  },
  {
    name: "JWT_AUDIENCE",
    fallback: "unset",
    meaning: "when set, tokens need this aud",
  },
  {
    name: "SUBSCRIBE_AUTH",
    fallback: "optional",
    meaning:
      "optional: anonymous streams see public events; required: no token, no stream",
  },
  {
    name: "AUTH_COOKIE",
    fallback: "mercureAuthorization",
    meaning: "the cookie a browser's token comes in",
  },
  {
    name: "AUTH_QUERY",
    fallback: "false",
    meaning: "true also reads ?authorization= (it leaks into logs)",
  },
  {
    name: "MERCURE_PUBLISHER_JWT_KEY",
    fallback: "unset",
    meaning:
      "Mercure's name for JWT_SECRET (or JWT_PUBLIC_KEY for a PEM); publishers' key when the two differ",
  },
  {
    name: "MERCURE_SUBSCRIBER_JWT_KEY",
    fallback: "unset",
    meaning:
      "the subscribers' key (/events too); the same as the publishers' when unset",
  },
  {
    name: "MERCURE_PUBLISHER_JWT_ALG",
    fallback: "unset",
    meaning: "Mercure's name for JWT_ALGORITHMS (the publishers' key's)",
  },
  {
    name: "MERCURE_SUBSCRIBER_JWT_ALG",
    fallback: "unset",
    meaning: "the same, for the subscribers' key",
  },
  {
    name: "MERCURE_TRUSTED_ISSUERS",
    fallback: "unset",
    meaning: "Mercure's name for JWT_ISSUER (comma separated)",
  },
  {
    name: "MERCURE_RESOURCE_IDENTIFIER",
    fallback: "unset",
    meaning: "Mercure's name for JWT_AUDIENCE",
  },
  {
    name: "MERCURE_ANONYMOUS",
    fallback: "unset",
    meaning: "1: anonymous Mercure subscribers get public updates",
  },
  {
    name: "MERCURE_DISCOVERY_URL",
    fallback: "unset",
    meaning:
      'the hub URL for a Link rel="mercure" header on herald\'s responses',
  },
  {
    name: "MERCURE_SUBSCRIPTIONS",
    fallback: "unset",
    meaning: "1: subscription events and the subscriptions API",
  },
  {
    name: "METRICS_TOKEN",
    fallback: "unset",
    meaning: "when set, GET /metrics needs Authorization: Bearer <token>",
  },
  {
    name: "TLS_CERT_FILE",
    fallback: "unset",
    meaning:
      "PEM certificate: serve HTTPS with HTTP/2 (one isolate; needs TLS_KEY_FILE)",
  },
  {
    name: "TLS_KEY_FILE",
    fallback: "unset",
    meaning: "PEM private key for TLS_CERT_FILE",
  },
  {
    name: "DENO_JOBS",
    fallback: "cores",
    meaning: "isolates under start:parallel",
  },
  {
    name: "HTTP_SERVER",
    fallback: "node",
    meaning:
      "node serves through node:http (start:parallel: one Worker per isolate, on Linux), deno through deno serve",
  },
  {
    name: "BUN_IDLE_TIMEOUT_S",
    fallback: "10",
    meaning:
      "start:bun: seconds before Bun closes an idle connection (event streams never time out)",
  },
  {
    name: "BUN_WORKERS",
    fallback: "1",
    meaning:
      "start:bun: workers sharing the port (reusePort), events fanned out over BroadcastChannel",
  },
]);

/** The text of `--help`: usage, then one line per variable with its default. */
export function helpText(version: string): string {
  const width = Math.max(...CONFIG_VARS.map((v) => v.name.length));
  const fallbackWidth = Math.max(...CONFIG_VARS.map((v) => v.fallback.length));
  const lines = [
    `herald ${version}: a Server-Sent Events hub`,
    "",
    "Usage: deno task start [--help] [--version]",
    "       deno task start:parallel   (one isolate per core, or DENO_JOBS)",
    "       deno task start:bun | start:node | start:workerd   (other runtimes)",
    "",
    "Environment variables (default, meaning):",
    ...CONFIG_VARS.map((v) =>
      `  ${v.name.padEnd(width)}  ${
        v.fallback.padEnd(fallbackWidth)
      }  ${v.meaning}`
    ),
    "",
    "A bad value stops start-up with one line naming the variable, and exit status 2.",
  ];
  return lines.join("\n");
}
