/**
 * Test helper: a real SSE client over fetch, parsed by an independent
 * spec-compliant parser (npm:eventsource-parser). Every wait has a timeout.
 */
import {
  type EventSourceMessage,
  EventSourceParserStream,
} from "eventsource-parser/stream";

/** One parsed event, as a client sees it. */
export interface SseEvent {
  /** The event name ("message" when the stream named none). */
  event: string;
  /** The data, lines joined with "\n". */
  data: string;
  /** The id field, or undefined when the event carried none. */
  id: string | undefined;
}

/** An open SSE stream; dispose it to cancel the body. */
export class SseClient {
  readonly response: Response;
  readonly retries: number[] = [];
  readonly #reader: ReadableStreamDefaultReader<EventSourceMessage>;
  readonly #buffer: SseEvent[] = [];
  #closed = false;

  private constructor(response: Response) {
    this.response = response;
    const stream = response.body!
      .pipeThrough(new TextDecoderStream("utf-8", { ignoreBOM: true }))
      .pipeThrough(
        new EventSourceParserStream({ onRetry: (ms) => this.retries.push(ms) }),
      );
    this.#reader = stream.getReader();
  }

  /** Opens `url` and checks that it answered 200 with an event stream. */
  static async open(
    url: string | URL,
    init: RequestInit = {},
  ): Promise<SseClient> {
    const response = await fetch(url, init);
    if (response.status !== 200) {
      const body = await response.text();
      throw new Error(
        `Expected 200 from ${url}, got ${response.status}: ${body}`,
      );
    }
    return new SseClient(response);
  }

  /** The next event, or an error after `timeoutMs`. Rejects when the stream ends. */
  async next(timeoutMs = 5000): Promise<SseEvent> {
    const buffered = this.#buffer.shift();
    if (buffered !== undefined) return buffered;
    const read = await this.#readWithin(timeoutMs);
    if (read.done) throw new Error("Stream ended");
    return read.value;
  }

  /** Reads until an event matches `predicate`, returning the ones before it too. */
  async waitFor(
    predicate: (event: SseEvent) => boolean,
    timeoutMs = 5000,
  ): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    const seen: SseEvent[] = [];
    while (true) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      seen.push(event);
      if (predicate(event)) return seen;
    }
  }

  /** Reads events until `count` with an id have arrived (ignoring update/system). */
  async collect(count: number, timeoutMs = 5000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    const events: SseEvent[] = [];
    while (events.length < count) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (event.id !== undefined) events.push(event);
    }
    return events;
  }

  /** Whether the server ends the stream within `timeoutMs` (events read meanwhile are kept). */
  async ended(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const kept: SseEvent[] = [];
    try {
      while (true) {
        const { done, value } = await this.#readWithin(
          Math.max(1, deadline - Date.now()),
        );
        if (done) return true;
        kept.push(value);
      }
    } catch {
      return false;
    } finally {
      this.#buffer.push(...kept);
    }
  }

  async #readWithin(
    timeoutMs: number,
  ): Promise<
    { done: true; value?: undefined } | { done: false; value: SseEvent }
  > {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`No event within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const { done, value } = await Promise.race([
        this.#reader.read(),
        timeout,
      ]);
      if (done) return { done: true };
      return {
        done: false,
        value: {
          event: value.event ?? "message",
          data: value.data,
          id: value.id,
        },
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cancels the body (the server sees a disconnect). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#reader.cancel().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Parses the JSON data of an event. */
export function dataOf<T = Record<string, unknown>>(event: SseEvent): T {
  return JSON.parse(event.data) as T;
}
