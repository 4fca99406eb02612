/**
 * @module The bus across the isolates of one process (`start:parallel`),
 * over `BroadcastChannel`: the only file that touches it. Ids come from each
 * isolate's {@linkcode HybridClock}; {@linkcode TotalOrder} turns them into one
 * order that every isolate delivers alike. The channel itself is bounded and
 * lossy (256 undelivered messages per receiver), so every frame goes through
 * {@linkcode ReliableChannel}: numbered, acknowledged, re-posted on a gap,
 * flow-controlled, and any loss it cannot repair is reported (`onLoss`) and
 * moves the horizon, never silent. Presence messages carry client counts and
 * double as watermarks. Web-only.
 */
import {
  type Bus,
  type BusLoss,
  BusUnavailableError,
  type EventDraft,
  type HubEvent,
  type Presence,
  randomInstanceName,
} from "../../lib/bus.ts";
import {
  compareIds,
  type EventId,
  formatId,
  maxId,
  parseId,
} from "../../lib/event_id.ts";
import { HybridClock } from "../../lib/hybrid_clock.ts";
import {
  ReliableChannel,
  type ReliableChannelStats,
} from "./reliable_channel.ts";
import { TotalOrder } from "./total_order.ts";
import { Listeners } from "../../lib/listeners.ts";

/** Options for {@linkcode BroadcastChannelBus}. */
export interface BroadcastChannelBusOptions {
  /** Channel name; isolates on the same name form one hub. @default {"herald"} */
  channel?: string;
  /** This instance's (isolate's) name in ids (`[a-z0-9]`). @default {randomInstanceName()} */
  instance?: string;
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
  /**
   * Frames in flight to the slowest isolate (see reliable_channel.ts);
   * `Infinity` turns flow control off, leaving recovery alone to cope.
   *
   * @default {"auto"}
   */
  window?: number | "auto";
  /** The wall clock in ms. @default {Date.now} */
  now?: () => number;
}

/** What an isolate says besides events: watermarks, presence, goodbye. */
type Control =
  | { readonly kind: "clock"; readonly clock: string }
  | {
    readonly kind: "hello";
    readonly clock: string;
    readonly clients: number;
    readonly joining: boolean;
    /** The sender's counters (additive: older isolates leave it out). */
    readonly counters?: Readonly<Record<string, number>>;
  }
  | { readonly kind: "bye" };

/** Bytes an event takes in the channel's budgets (UTF-16 strings, roughly). */
function eventBytes(event: EventDraft): number {
  return 2 * (event.data.length + event.topic.length + event.event.length) +
    64;
}

/** Whether a peer's counters are a record of finite numbers. */
function isCounters(
  value: unknown,
): value is Readonly<Record<string, number>> {
  if (typeof value !== "object" || value === null) return false;
  return Object.values(value).every((n) =>
    typeof n === "number" && Number.isFinite(n)
  );
}

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
  readonly #reliable: ReliableChannel<HubEvent, Control>;
  readonly #listeners = new Listeners<HubEvent>();
  readonly #lossListeners = new Listeners<BusLoss>();
  readonly #peerClients = new Map<string, number>();
  readonly #peerCounters = new Map<string, Readonly<Record<string, number>>>();
  #readCounters: (() => Readonly<Record<string, number>>) | null = null;
  readonly #now: () => number;
  readonly #peerTimeoutMs: number;
  readonly #ready: Promise<void>;
  readonly #timers: Array<ReturnType<typeof setTimeout>> = [];
  /**
   * Peers whose earlier events may be missing here (lost for good, or sent
   * before we first heard them): their next id moves the horizon.
   */
  readonly #lossFrom = new Set<string>();
  #horizon: EventId;
  #clients = 0;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  /** Joins the channel and starts the presence timer. */
  constructor(options: BroadcastChannelBusOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#clock = new HybridClock(options.instance ?? randomInstanceName(), {
      now: this.#now,
    });
    this.#order = new TotalOrder((event) => {
      this.#listeners.emit(event);
    });
    this.#peerTimeoutMs = options.peerTimeoutMs ?? 3000;
    // Events stamped before this channel existed never reach it: history is
    // complete only after the next millisecond (one process shares one clock).
    this.#horizon = { ms: Math.floor(this.#now()) + 1, seq: 0, instance: "" };
    this.#channel = new BroadcastChannel(options.channel ?? "herald");
    this.#reliable = new ReliableChannel<HubEvent, Control>(this.instance, {
      post: (frame) => {
        this.#channel.postMessage(frame);
      },
      onData: (from, events) => this.#receiveEvents(from, events),
      onControl: (from, control) => this.#receiveControl(from, control),
      onLoss: (from) => this.#lost(from),
      // Heard first mid-stream: what it sent before is not known complete.
      onGuessedStart: (from) => this.#lossFrom.add(from),
      ackBody: () => ({ kind: "clock", clock: this.#watermark() }),
      size: eventBytes,
      window: options.window ?? "auto",
      // A gap is given up only when its sender would be forgotten anyway: a
      // machine under load may take a while to answer, and giving up early
      // would reset streams that could still have every event.
      giveUpMs: this.#peerTimeoutMs,
      now: this.#now,
    });
    this.#channel.onmessage = (message: MessageEvent<unknown>) =>
      this.#reliable.receive(message.data);
    this.#hello(true);
    const presenceMs = options.presenceMs ?? 1000;
    this.#timers.push(setInterval(() => this.#tick(), presenceMs));
    const joinMs = options.joinMs ?? 50;
    this.#ready = joinMs > 0
      ? new Promise((resolve) => this.#timers.push(setTimeout(resolve, joinMs)))
      : Promise.resolve();
  }

  /** This instance's name, as written in its ids. */
  get instance(): string {
    return this.#clock.instance;
  }

  /** Events delivered out of order because their sender went silent too long. */
  get late(): number {
    return this.#order.late;
  }

  /** How delivery between isolates went: frames, re-posts, losses, stalls. */
  get delivery(): ReliableChannelStats {
    return this.#reliable.stats;
  }

  /**
   * Stamps the draft, sends it to every isolate and delivers it here in order.
   *
   * While too much waits for an isolate that does not keep up, it waits for
   * room (up to the peer timeout, after which that isolate is forgotten).
   *
   * @throws {BusUnavailableError} when the bus is closed, or still has no room
   */
  async publish(draft: EventDraft): Promise<HubEvent> {
    await this.#ready;
    if (this.#closed) {
      throw new BusUnavailableError("Cannot publish: bus is closed");
    }
    const bytes = eventBytes(draft);
    if (!await this.#reliable.room(bytes, this.#peerTimeoutMs)) {
      throw new BusUnavailableError(
        this.#closed
          ? "Cannot publish: bus is closed"
          : "Cannot publish: another isolate does not keep up; try again",
      );
    }
    const id = this.#clock.next();
    const event: HubEvent = {
      topic: draft.topic,
      event: draft.event,
      data: draft.data,
      id: formatId(id),
      ...(draft.private === true ? { private: true } : {}),
    };
    this.#reliable.send(event);
    this.#order.local(id, event);
    return event;
  }

  /** Calls `listener` with every event, from every isolate, in id order. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Calls `listener` when events from another isolate were lost for good. */
  onLoss(listener: (loss: BusLoss) => void): () => void {
    return this.#lossListeners.add(listener);
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

  /** Sends `read()` with every presence message from now on. */
  shareCounters(read: () => Readonly<Record<string, number>>): void {
    this.#readCounters = read;
  }

  /** The latest counters of each peer still present (up to one presence period old). */
  peerCounters(): ReadonlyArray<Readonly<Record<string, number>>> {
    const out: Array<Readonly<Record<string, number>>> = [];
    for (const [peer, counters] of this.#peerCounters) {
      if (this.#peerClients.has(peer)) out.push(counters);
    }
    return out;
  }

  /** Clients and isolates across the process. */
  presence(): Presence {
    return {
      clients: this.processClients(),
      instances: this.#peerClients.size + 1,
    };
  }

  /** Streams across the process: its isolates are all this channel spans. */
  processClients(): number {
    let clients = this.#clients;
    for (const count of this.#peerClients.values()) clients += count;
    return clients;
  }

  /** The id after which every event reached this isolate. */
  horizon(): string {
    return formatId(this.#horizon);
  }

  /** Sends what waits, says goodbye to the peers and leaves the channel. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#reliable.close({ kind: "bye" });
    for (const timer of this.#timers) clearTimeout(timer);
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    this.#channel.close();
    this.#listeners.clear();
    this.#lossListeners.clear();
    return Promise.resolve();
  }

  #receiveEvents(from: string, events: readonly HubEvent[]): void {
    if (this.#closed) return;
    const now = this.#now();
    if (!this.#peerClients.has(from)) this.#peerClients.set(from, 0);
    for (const event of events) {
      const id = parseId(event.id);
      if (id === null) continue;
      this.#clock.observe(id);
      this.#moveHorizonPastLoss(from, id);
      this.#order.remote(from, id, event, now);
    }
  }

  #receiveControl(from: string, control: Control): void {
    if (this.#closed) return;
    const now = this.#now();
    switch (control.kind) {
      case "clock": {
        const clock = parseId(control.clock);
        if (clock === null) return;
        this.#moveHorizonPastLoss(from, clock);
        this.#order.heard(from, clock, now);
        return;
      }
      case "hello": {
        const clock = parseId(control.clock);
        if (clock === null) return;
        this.#clock.observe(clock);
        this.#moveHorizonPastLoss(from, clock);
        this.#peerClients.set(from, control.clients);
        if (isCounters(control.counters)) {
          this.#peerCounters.set(from, control.counters);
        }
        this.#order.heard(from, clock, now);
        // A joining peer waits for our clock before its first id.
        if (control.joining) this.#hello(false);
        return;
      }
      case "bye": {
        this.#peerClients.delete(from);
        this.#peerCounters.delete(from);
        this.#order.forget(from);
        this.#reliable.forget(from);
        return;
      }
    }
  }

  /**
   * Events from `from` are gone for good: replays from before the next thing
   * it says cannot be complete here, and live streams must be told.
   */
  #lost(from: string): void {
    this.#horizon = maxId(this.#horizon, this.#clock.current);
    this.#lossFrom.add(from);
    const loss: BusLoss = { reason: "bus-gap", topics: null };
    this.#lossListeners.emit(loss);
  }

  /** The lost events of `from` sort before `id`, its first word after them. */
  #moveHorizonPastLoss(from: string, id: EventId): void {
    if (!this.#lossFrom.delete(from)) return;
    this.#horizon = maxId(this.#horizon, id);
  }

  #tick(): void {
    this.#hello(false);
    for (const gone of this.#order.expire(this.#now() - this.#peerTimeoutMs)) {
      this.#peerClients.delete(gone);
      this.#peerCounters.delete(gone);
      this.#reliable.forget(gone);
    }
  }

  #hello(joining: boolean): void {
    if (this.#closed) return;
    this.#reliable.control({
      kind: "hello",
      clock: this.#watermark(),
      clients: this.#clients,
      joining,
      ...(this.#readCounters === null
        ? {}
        : { counters: this.#readCounters() }),
    });
  }

  /**
   * The clock this isolate may claim: nothing it sends later sorts at or
   * before it. Events still waiting for the flow-control window were stamped
   * already, so the claim stops just short of the first of them.
   */
  #watermark(): string {
    let clock = this.#clock.current.ms === 0
      ? this.#clock.next()
      : this.#clock.current;
    const waiting = this.#reliable.firstWaiting;
    const first = waiting === undefined ? null : parseId(waiting.id);
    if (first !== null && compareIds(first, clock) <= 0) {
      // Same time and counter with no instance sorts just before `first`.
      clock = { ms: first.ms, seq: first.seq, instance: "" };
    }
    return formatId(clock);
  }
}
