/**
 * @module `deno task token`: mints a development token for herald, signed
 * with `JWT_SECRET` (HS256), and prints it to stdout. For development and
 * tests only: in production the application's server issues tokens (a cookie
 * or a header) with its own library; this tool has no revocation, no audit
 * and puts the secret in your shell. Deno-only.
 *
 * ```sh
 * JWT_SECRET=... deno task token --subscribe 'users/42/*' --publish 'users/42/*' --ttl 1h
 * ```
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { readAuthConfig } from "../lib/auth/auth_config.ts";

const USAGE =
  `Usage: deno task token [--subscribe SELECTOR]... [--publish SELECTOR]...
                       [--ttl 1h] [--payload JSON] [--sub SUBJECT]
Signs with JWT_SECRET (HS256); JWT_ISSUER and JWT_AUDIENCE are added when set.
Development only: the application's server should issue real tokens.`;

const UNITS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/** Reads a duration like `90s`, `30m`, `1h` or `7d` into seconds; null when it is not one. */
export function parseTtl(text: string): number | null {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (match === null) return null;
  const seconds = Number(match[1]) * UNITS[match[2]!]!;
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : null;
}

function fail(message: string): never {
  // deno-lint-ignore no-console
  console.error(`herald token: ${message}`);
  Deno.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        subscribe: { type: "string", multiple: true },
        publish: { type: "string", multiple: true },
        ttl: { type: "string", default: "1h" },
        payload: { type: "string" },
        sub: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if (values.help === true) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return;
  }
  const ttl = parseTtl(values.ttl);
  if (ttl === null) {
    fail(
      `Cannot read --ttl: "${values.ttl}" is not a duration like 90s, 30m, 1h or 7d`,
    );
  }
  let payload: unknown = undefined;
  if (values.payload !== undefined) {
    try {
      payload = JSON.parse(values.payload);
    } catch {
      fail("Cannot read --payload: it is not JSON");
    }
  }
  const env = {
    JWT_SECRET: Deno.env.get("JWT_SECRET"),
    JWT_ISSUER: Deno.env.get("JWT_ISSUER"),
    JWT_AUDIENCE: Deno.env.get("JWT_AUDIENCE"),
  };
  let auth;
  try {
    auth = readAuthConfig(env);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (auth.keys?.kind !== "secret") {
    fail("Cannot mint a token: set JWT_SECRET (at least 32 bytes)");
  }
  const mercure: Record<string, unknown> = {
    subscribe: values.subscribe ?? [],
    publish: values.publish ?? [],
  };
  if (payload !== undefined) mercure.payload = payload;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ mercure })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + ttl);
  if (values.sub !== undefined) jwt.setSubject(values.sub);
  // The first of several trusted issuers.
  if (auth.issuers[0] !== undefined) jwt.setIssuer(auth.issuers[0]);
  if (auth.audience !== null) jwt.setAudience(auth.audience);
  // deno-lint-ignore no-console
  console.log(await jwt.sign(auth.keys.secret));
}

if (import.meta.main) await main();
