/**
 * @module Publish requests: validates the JSON body of `POST /message` and the
 * topic names of `GET /events`. Every rule here exists to keep publisher text
 * out of SSE fields (CWE-93, CRLF injection): only `message` may hold any
 * text, and it only ever travels inside JSON in `data:` lines. Web-only.
 */

/** Topic and event names: letters, digits and `-_.:/`, 1 to 128 characters. */
export const NAME_PATTERN: RegExp = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** The topic a stream or a publish uses when it names none. */
export const DEFAULT_TOPIC = "chat";

/** Event names the hub itself sends, so no publisher may use them. */
export const EVENT_TYPE = {
  System: "system",
  Update: "update",
  Reset: "reset",
  Chat: "chat",
} as const;

/**
 * Names a publisher may not send: the hub's own events, and the names that
 * `EventSource` dispatches itself (`error`, `open`), which a page would take
 * for a broken or reopened connection.
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  EVENT_TYPE.System,
  EVENT_TYPE.Update,
  EVENT_TYPE.Reset,
  "error",
  "open",
]);

/** A validated publish: what `POST /message` asked for. */
export interface PublishRequest {
  /** The text to deliver, exactly as sent. */
  readonly message: string;
  /** The topic to deliver to. */
  readonly topic: string;
  /** The SSE event name. */
  readonly event: string;
  /** Only streams whose token grants the topic receive it (`"private": true`). */
  readonly private?: true;
}

/** Raised for a publish or a topic that breaks a rule; the route answers 400. */
export class MessageError extends Error {
  /** Makes the error; `message` says which rule failed. */
  constructor(message: string) {
    super(message);
    this.name = "MessageError";
  }
}

function quote(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(shown);
}

/** Checks a topic name; returns it or throws {@linkcode MessageError}. */
export function validateTopic(topic: string): string {
  if (!NAME_PATTERN.test(topic)) {
    throw new MessageError(
      `Cannot use topic ${
        quote(topic)
      }: topics are 1 to 128 of A-Z a-z 0-9 - _ . : /`,
    );
  }
  return topic;
}

const FIELDS: ReadonlySet<string> = new Set([
  "message",
  "topic",
  "event",
  "private",
]);

/**
 * Validates a parsed JSON body of `POST /message`.
 *
 * @example A valid publish
 * ```ts
 * import { parseMessage } from "./message.ts";
 * const request = parseMessage({ message: "hi" });
 * if (request.topic !== "chat" || request.event !== "chat") throw new Error();
 * ```
 *
 * @throws {MessageError} naming the field and the rule it breaks
 */
export function parseMessage(body: unknown): PublishRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MessageError("Cannot publish: the body must be a JSON object");
  }
  const record = body as Record<string, unknown>;
  if ("id" in record) {
    throw new MessageError(
      'Cannot publish: "id" is assigned by the hub, so that ids stay in order',
    );
  }
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key)) {
      throw new MessageError(`Cannot publish: unknown field ${quote(key)}`);
    }
  }
  const { message, topic = DEFAULT_TOPIC, event = EVENT_TYPE.Chat } = record;
  if (typeof message !== "string") {
    throw new MessageError('Cannot publish: "message" must be a string');
  }
  if (typeof topic !== "string") {
    throw new MessageError('Cannot publish: "topic" must be a string');
  }
  if (typeof event !== "string") {
    throw new MessageError('Cannot publish: "event" must be a string');
  }
  if (!NAME_PATTERN.test(topic)) {
    throw new MessageError(
      `Cannot publish: "topic" ${
        quote(topic)
      } must be 1 to 128 of A-Z a-z 0-9 - _ . : /`,
    );
  }
  if (!NAME_PATTERN.test(event)) {
    throw new MessageError(
      `Cannot publish: "event" ${
        quote(event)
      } must be 1 to 128 of A-Z a-z 0-9 - _ . : /`,
    );
  }
  if (RESERVED_EVENTS.has(event)) {
    throw new MessageError(
      `Cannot publish: "event" ${quote(event)} is reserved for the hub`,
    );
  }
  const isPrivate = record.private ?? false;
  if (typeof isPrivate !== "boolean") {
    throw new MessageError('Cannot publish: "private" must be true or false');
  }
  return isPrivate
    ? { message, topic, event, private: true }
    : { message, topic, event };
}
