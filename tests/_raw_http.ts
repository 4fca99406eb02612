/**
 * Test helper: HTTP/1.1 over a raw `Deno.connect` socket, for requests that
 * fetch() would normalise (`/static/../x`), refuse, or never leave unfinished
 * (a chunked body that never ends). Every read has a timeout.
 */

const encoder = new TextEncoder();

/** A parsed raw response. */
export interface RawResponse {
  /** The status code of the status line. */
  readonly status: number;
  /** The status line and header lines, as sent. */
  readonly head: string;
  /** The response headers. */
  readonly headers: Headers;
  /** The body, de-chunked, as UTF-8 text. */
  readonly body: string;
}

/** Connects to 127.0.0.1:`port`. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes all of `data` (text is UTF-8 encoded). */
export async function writeAll(
  conn: Deno.Conn,
  data: string | Uint8Array,
): Promise<void> {
  let bytes = typeof data === "string" ? encoder.encode(data) : data;
  while (bytes.byteLength > 0) {
    const written = await conn.write(bytes);
    bytes = bytes.subarray(written);
  }
}

/** Reads one chunk, or null at the end; rejects after `timeoutMs`. */
export async function readChunk(
  conn: Deno.Conn,
  timeoutMs = 5000,
): Promise<Uint8Array | null> {
  const buffer = new Uint8Array(64 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`No bytes within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const n = await Promise.race([conn.read(buffer), timeout]);
    return n === null ? null : buffer.slice(0, n);
  } finally {
    clearTimeout(timer);
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

function dechunk(bytes: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let offset = 0;
  const decoder = new TextDecoder();
  while (offset < bytes.length) {
    let lineEnd = offset;
    while (lineEnd + 1 < bytes.length && bytes[lineEnd] !== 13) lineEnd++;
    const size = parseInt(decoder.decode(bytes.subarray(offset, lineEnd)), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return concat(out);
}

/** Parses a complete response (head and the body that followed it). */
export function parseResponse(bytes: Uint8Array): RawResponse {
  const end = indexOfHeadEnd(bytes);
  if (end === -1) {
    throw new Error(
      `Cannot parse response: no header end in ${
        JSON.stringify(new TextDecoder().decode(bytes.subarray(0, 200)))
      }`,
    );
  }
  const head = new TextDecoder().decode(bytes.subarray(0, end));
  const [statusLine = "", ...lines] = head.split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = bytes.subarray(end + 4);
  if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
    body = dechunk(body);
  } else if (headers.has("content-length")) {
    body = body.subarray(0, Number(headers.get("content-length")));
  }
  return { status, head, headers, body: new TextDecoder().decode(body) };
}

/**
 * Sends `request` (a whole HTTP/1.1 request; use `Connection: close`) and
 * reads the response until the server closes the connection.
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 5000,
): Promise<RawResponse> {
  const conn = await connect(port);
  try {
    await writeAll(conn, request);
    const chunks: Uint8Array[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const chunk = await readChunk(conn, Math.max(1, deadline - Date.now()))
        .catch((error) => {
          if (error instanceof Deno.errors.ConnectionReset) return null;
          throw error;
        });
      if (chunk === null) break;
      chunks.push(chunk);
    }
    return parseResponse(concat(chunks));
  } finally {
    conn.close();
  }
}

/** A `GET <target>` request line and headers, closing the connection after. */
export function rawGet(target: string, headers: string[] = []): string {
  return [
    `GET ${target} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: close",
    ...headers,
    "",
    "",
  ].join("\r\n");
}

/**
 * POSTs a chunked JSON body of `chunks` × 1 KiB that never ends (no final
 * `0` chunk) and returns the answer the server gives meanwhile, or null when
 * it closes without one. A server that buffers the whole body never answers.
 */
export async function postUnendingChunkedBody(
  port: number,
  chunks: number,
): Promise<RawResponse | null> {
  const conn = await connect(port);
  try {
    await writeAll(
      conn,
      "POST /message HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const piece = `400\r\n${"x".repeat(0x400)}\r\n`;
    for (let i = 0; i < chunks; i++) await writeAll(conn, piece);
    const chunk = await readChunk(conn, 3000);
    return chunk === null ? null : parseResponse(chunk);
  } finally {
    conn.close();
  }
}
