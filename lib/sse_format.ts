/**
 * @module SSE wire encoder. Turns one event into the exact text of the
 * `text/event-stream` format (WHATWG HTML, "Server-sent events"). It knows
 * nothing of topics, subscribers or HTTP. Web-only: no Deno APIs.
 *
 * Every field a publisher can influence is encoded so that it cannot forge
 * another field or another event: `data` is split on CR, LF and CRLF into one
 * `data:` line per input line, and `event` / `id` holding CR, LF or NUL are
 * refused (a second line of defence behind the message validator).
 */

/** One server-sent event, as {@linkcode formatEvent} writes it. */
export interface ServerSentEvent {
  /** The payload. Any string; line breaks become separate `data:` lines. */
  data: string;
  /** The event name (`event:` field). Omitted means the default, "message". */
  event?: string;
  /** The event id (`id:` field). Omitted means no `id:` line at all. */
  id?: string;
  /** Reconnection time in milliseconds (`retry:` field). */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

function checkField(name: string, value: string): void {
  if (FORBIDDEN_IN_FIELD.test(value)) {
    throw new SyntaxError(
      `Cannot encode event: "${name}" must not contain CR, LF or NUL`,
    );
  }
}

function checkRetry(retry: number): void {
  if (!Number.isSafeInteger(retry) || retry < 0) {
    throw new RangeError(
      `Cannot encode event: "retry" must be a non-negative integer, got ${retry}`,
    );
  }
}

/**
 * Writes one event as SSE text, ending with the blank line that dispatches it.
 *
 * @example Encode a chat event
 * ```ts
 * import { formatEvent } from "./sse_format.ts";
 * const text = formatEvent({ event: "chat", id: "1-0", data: "a\nb" });
 * if (text !== "event: chat\nid: 1-0\ndata: a\ndata: b\n\n") throw new Error();
 * ```
 *
 * @throws {SyntaxError} when `event` or `id` holds CR, LF or NUL
 * @throws {RangeError} when `retry` is not a non-negative integer
 */
export function formatEvent(message: ServerSentEvent): string {
  let out = "";
  if (message.retry !== undefined) {
    checkRetry(message.retry);
    out += `retry: ${message.retry}\n`;
  }
  if (message.event !== undefined) {
    checkField("event", message.event);
    out += `event: ${message.event}\n`;
  }
  if (message.id !== undefined) {
    checkField("id", message.id);
    out += `id: ${message.id}\n`;
  }
  for (const line of message.data.split(LINE_BREAK)) {
    out += `data: ${line}\n`;
  }
  return out + "\n";
}

/**
 * Writes a comment line (ignored by clients; keeps proxies from timing out).
 * Each line of `text` becomes its own comment line, so a comment cannot carry
 * a field.
 */
export function formatComment(text = ""): string {
  let out = "";
  for (const line of text.split(LINE_BREAK)) {
    out += line === "" ? ":\n" : `: ${line}\n`;
  }
  return out + "\n";
}

/**
 * Writes a `retry:` field line, which sets the client's reconnection delay,
 * with no blank line after it: write an event right after it, so that it
 * travels inside that event's block. A block of only `retry:` is dispatched
 * as an empty message by some clients (`@microsoft/fetch-event-source`,
 * `extended-eventsource`).
 */
export function formatRetry(ms: number): string {
  checkRetry(ms);
  return `retry: ${ms}\n`;
}
