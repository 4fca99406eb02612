/**
 * @module The bus across the isolates of one process (`deno serve --parallel`),
 * over `BroadcastChannel`: the only file that touches it. Ids come from each
 * isolate's {@linkcode HybridClock}; {@linkcode TotalOrder} turns them into one
 * order that every isolate delivers alike. Presence messages carry client
 * counts and double as watermarks. Web-only.
 */
import {
  type Bus,
  BusUnavailableError,
  type EventDraft,
  type HubEvent,
  type Presence,
  randomNodeName,
} from "./bus.ts";
import { formatId, parseId } from "./event_id.ts";
import { HybridClock } from "./hybrid_clock.ts";
import { TotalOrder } from "./total_order.ts";

/** Options for {@linkcode BroadcastChannelBus}. */
export interface BroadcastChannelBusOptions {
  /** Channel name; isolates on the same name form one hub. @default {"herald"} */
  channel?: string;
  /** This isolate's name in ids (`[a-z0-9]`). @default {randomNodeName()} */
  node?: string;
  /** Period of presence messages in ms. @default {1000} */
  presenceMs?: number;
  /** A peer not heard from for this long is forgotten. @default {3000} */
  peerTimeoutMs?: number;
  /**
   * On start, publishes wait this long so that peers can answer with their
   * clocks; the first id then sorts after everything they have delivered.
   *
   * @default {50}
   */
  joinMs?: number;
  /** The wall clock in ms. @default {Date.now} */
  now?: () => number;
}

type Message =
  | { readonly kind: "event"; readonly from: string; readonly event: HubEvent }
  | { readonly kind: "clock"; readonly from: string; readonly clock: string }
  | {
    readonly kind: "hello";
    readonly from: string;
    readonly clock: string;
    readonly clients: number;
    readonly joining: boolean;
  }
  | { readonly kind: "bye"; readonly from: string };

/**
 * A {@linkcode Bus} over `BroadcastChannel`, for every isolate of one process.
 *
 * @example Two buses on one channel see each other's events
 * ```ts
 * import { BroadcastChannelBus } from "./broadcast_channel_bus.ts";
 * const a = new BroadcastChannelBus({ channel: "doc-example", joinMs: 0 });
 * const b = new BroadcastChannelBus({ channel: "doc-example", joinMs: 0 });
 * const got = new Promise((resolve) => b.subscribe(resolve));
 * await a.publish({ topic: "t", event: "chat", data: "hi" });
 * await got;
 * await a.close();
 * await b.close();
 * ```
 */
export class BroadcastChannelBus implements Bus {
  readonly #channel: BroadcastChannel;
  readonly #clock: HybridClock;
  readonly #order: TotalOrder;
  readonly #listeners = new Set<(event: HubEvent) => void>();
  readonly #peerClients = new Map<string, number>();
  readonly #now: () => number;
  readonly #peerTimeoutMs: number;
  readonly #horizon: string;
  readonly #ready: Promise<void>;
  readonly #timers: Array<ReturnType<typeof setTimeout>> = [];
  #clients = 0;
  #ackQueued = false;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  /** Joins the channel and starts the presence timer. */
  constructor(options: BroadcastChannelBusOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#clock = new HybridClock(options.node ?? randomNodeName(), {
      now: this.#now,
    });
    this.#order = new TotalOrder((event) => {
      for (const listener of this.#listeners) listener(event);
    });
    this.#peerTimeoutMs = options.peerTimeoutMs ?? 3000;
    // Events stamped before this channel existed never reach it: history is
    // complete only after the next millisecond (one process shares one clock).
    this.#horizon = `${Math.floor(this.#now()) + 1}-0`;
    this.#channel = new BroadcastChannel(options.channel ?? "herald");
    this.#channel.onmessage = (message: MessageEvent<Message>) =>
      this.#receive(message.data);
    this.#post({
      kind: "hello",
      from: this.node,
      clock: this.#clockText(),
      clients: 0,
      joining: true,
    });
    const presenceMs = options.presenceMs ?? 1000;
    this.#timers.push(setInterval(() => this.#tick(), presenceMs));
    const joinMs = options.joinMs ?? 50;
    this.#ready = joinMs > 0
      ? new Promise((resolve) => this.#timers.push(setTimeout(resolve, joinMs)))
      : Promise.resolve();
  }

  /** This isolate's name, as written in its ids. */
  get node(): string {
    return this.#clock.node;
  }

  /** Events delivered out of order because their sender went silent too long. */
  get late(): number {
    return this.#order.late;
  }

  /** Stamps the draft, sends it to every isolate and delivers it here in order. */
  async publish(draft: EventDraft): Promise<HubEvent> {
    await this.#ready;
    if (this.#closed) {
      throw new BusUnavailableError("Cannot publish: bus is closed");
    }
    const id = this.#clock.next();
    const event: HubEvent = {
      topic: draft.topic,
      event: draft.event,
      data: draft.data,
      id: formatId(id),
      ...(draft.private === true ? { private: true } : {}),
    };
    this.#post({ kind: "event", from: this.node, event });
    this.#order.local(id, event);
    return event;
  }

  /** Calls `listener` with every event, from every isolate, in id order. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Shares this isolate's client count with the others, soon. */
  reportClients(count: number): void {
    if (count === this.#clients) return;
    this.#clients = count;
    // Coalesce bursts of connects into one message.
    this.#helloTimer ??= setTimeout(() => {
      this.#helloTimer = null;
      this.#hello(false);
    }, 50);
  }

  /** Clients and isolates across the process. */
  presence(): Presence {
    let clients = this.#clients;
    for (const count of this.#peerClients.values()) clients += count;
    return { clients, isolates: this.#peerClients.size + 1 };
  }

  /** The id after which every event reached this isolate. */
  horizon(): string {
    return this.#horizon;
  }

  /** Says goodbye to the peers and leaves the channel. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#post({ kind: "bye", from: this.node });
    for (const timer of this.#timers) clearTimeout(timer);
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    this.#channel.close();
    this.#listeners.clear();
    return Promise.resolve();
  }

  #receive(message: Message): void {
    if (this.#closed || typeof message !== "object" || message === null) return;
    const now = this.#now();
    switch (message.kind) {
      case "event": {
        const id = parseId(message.event.id);
        if (id === null) return;
        this.#clock.observe(id);
        this.#peerClients.set(
          message.from,
          this.#peerClients.get(message.from) ?? 0,
        );
        this.#order.remote(message.from, id, message.event, now);
        this.#queueAck();
        return;
      }
      case "clock": {
        const clock = parseId(message.clock);
        if (clock !== null) this.#order.heard(message.from, clock, now);
        return;
      }
      case "hello": {
        const clock = parseId(message.clock);
        if (clock === null) return;
        this.#clock.observe(clock);
        this.#peerClients.set(message.from, message.clients);
        this.#order.heard(message.from, clock, now);
        // A joining peer waits for our clock before its first id.
        if (message.joining) this.#hello(false);
        return;
      }
      case "bye": {
        this.#peerClients.delete(message.from);
        this.#order.forget(message.from);
        return;
      }
    }
  }

  /** Acknowledges received events once per task: our watermark moved past them. */
  #queueAck(): void {
    if (this.#ackQueued) return;
    this.#ackQueued = true;
    queueMicrotask(() => {
      this.#ackQueued = false;
      this.#post({ kind: "clock", from: this.node, clock: this.#clockText() });
    });
  }

  #tick(): void {
    this.#hello(false);
    for (const gone of this.#order.expire(this.#now() - this.#peerTimeoutMs)) {
      this.#peerClients.delete(gone);
    }
  }

  #hello(joining: boolean): void {
    this.#post({
      kind: "hello",
      from: this.node,
      clock: this.#clockText(),
      clients: this.#clients,
      joining,
    });
  }

  #clockText(): string {
    return formatId(
      this.#clock.current.ms === 0 ? this.#clock.next() : this.#clock.current,
    );
  }

  #post(message: Message): void {
    if (this.#closed && message.kind !== "bye") return;
    this.#channel.postMessage(message);
  }
}
