/**
 * @module Mercure updates on herald's bus. A Mercure update (several topics,
 * raw data, the publisher's id, an optional type and retry) travels as one
 * event of its canonical (first) topic whose `event` is
 * {@linkcode MERCURE_EVENT} and whose `data` is a JSON envelope, so every bus
 * and history carries it unchanged. Each endpoint then encodes it once in its
 * own format: {@linkcode mercureFrame} for `/.well-known/mercure`,
 * {@linkcode heraldFrame} for `/events`. Web-only.
 */
import type { EventDraft, HubEvent } from "../bus.ts";
import { formatEvent } from "../sse_format.ts";

/** The `event` of a bus event that carries a Mercure update (no herald name holds `#`). */
export const MERCURE_EVENT = "#mercure";

/** A validated Mercure publish. */
export interface MercureUpdate {
  /** The topics, the first canonical; at least one. */
  readonly topics: readonly string[];
  /** The payload, as given. */
  readonly data: string;
  /** The publisher's id; null: the hub's id is used. */
  readonly id: string | null;
  /** The SSE event name; null: no `event:` line. */
  readonly type: string | null;
  /** The `retry:` to send with it, in ms; null: none. */
  readonly retry: number | null;
  /** Whether only subscribers granted one of its topics receive it. */
  readonly private: boolean;
}

/** An update as a Mercure stream sees it: any bus event, Mercure's or herald's own. */
export interface ReceivedUpdate extends MercureUpdate {
  /** The id the hub's bus gave it (orders it). */
  readonly hubId: string;
  /** The id on the wire: the publisher's, else the hub's. */
  readonly wireId: string;
}

/** The bus draft that carries `update`. */
export function toDraft(update: MercureUpdate): EventDraft {
  return {
    topic: update.topics[0]!,
    event: MERCURE_EVENT,
    data: JSON.stringify({
      topics: update.topics,
      data: update.data,
      id: update.id,
      type: update.type,
      retry: update.retry,
    }),
    ...(update.private ? { private: true as const } : {}),
  };
}

function envelope(event: HubEvent): Record<string, unknown> | null {
  try {
    const value = JSON.parse(event.data);
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}

/**
 * Reads any bus event as a Mercure update: a Mercure envelope as published,
 * a herald event as its topic, data, id and event name. Null for an envelope
 * that is not one (never published by herald).
 */
export function fromEvent(event: HubEvent): ReceivedUpdate | null {
  const isPrivate = event.private === true;
  if (event.event !== MERCURE_EVENT) {
    return {
      topics: [event.topic],
      data: event.data,
      id: null,
      type: event.event,
      retry: null,
      private: isPrivate,
      hubId: event.id,
      wireId: event.id,
    };
  }
  const e = envelope(event);
  if (
    e === null || !Array.isArray(e.topics) || typeof e.data !== "string"
  ) return null;
  const id = typeof e.id === "string" ? e.id : null;
  return {
    topics: e.topics.filter((t): t is string => typeof t === "string"),
    data: e.data,
    id,
    type: typeof e.type === "string" ? e.type : null,
    retry: typeof e.retry === "number" ? e.retry : null,
    private: isPrivate,
    hubId: event.id,
    wireId: id ?? event.id,
  };
}

const encoder = new TextEncoder();

/** The update as a Mercure stream sends it: `event:` only with a type, the wire id, raw data. */
export function mercureFrame(update: ReceivedUpdate): Uint8Array {
  return encoder.encode(formatEvent({
    ...(update.retry === null ? {} : { retry: update.retry }),
    ...(update.type === null ? {} : { event: update.type }),
    id: update.wireId,
    data: update.data,
  }));
}

/**
 * A Mercure bus event as `/events` sends it: the hub's id (so herald's replay
 * works), the type as `event:` when given, raw data.
 */
export function heraldFrame(event: HubEvent): string {
  const update = fromEvent(event);
  return formatEvent({
    ...(update?.type == null ? {} : { event: update.type }),
    id: event.id,
    data: update?.data ?? "",
  });
}
