/**
 * @module The bus: the seam that carries published events between hub
 * instances and gives them their order. It knows events, not HTTP. Web-only.
 *
 * One word names a running hub throughout: an **instance** (an isolate under
 * `start:parallel`, a `deno task start` process beside others on one
 * Redis or KV file, a Deno Deploy instance). {@linkcode LocalBus} is the
 * in-memory default for one instance; `BroadcastChannelBus` spans the
 * isolates of one process; the Redis and KV engines span processes and
 * machines and supply their own ids.
 */
import { formatId } from "./event_id.ts";
import { HybridClock } from "./hybrid_clock.ts";
import { Listeners } from "./listeners.ts";

/** What a publisher hands to the bus: everything but the id. */
export interface EventDraft {
  /** The topic the event belongs to. */
  readonly topic: string;
  /** The SSE event name, e.g. "chat". */
  readonly event: string;
  /** The SSE data, already serialised (JSON text). Identical on every instance. */
  readonly data: string;
  /**
   * Set on a private event: only streams whose token grants its topic get it,
   * live and in replay. Absent (not false) on public events, so buses and
   * stores that predate it carry public events unchanged.
   */
  readonly private?: true;
}

/** A published event with the id the bus gave it. */
export interface HubEvent extends EventDraft {
  /** Unique across the hub; ids increase in delivery order (see event_id.ts). */
  readonly id: string;
}

/** Who is connected, as far as the bus can tell. */
export interface Presence {
  /** Streams open on every instance the bus can see, this one included. */
  readonly clients: number;
  /** Instances the bus can see, this one included. */
  readonly instances: number;
}

/** How delivery between instances went, for a bus that numbers its frames. */
export interface DeliveryCounts {
  /** Data frames posted. */
  readonly framesSent: number;
  /** Gaps asked to be filled. */
  readonly nacksSent: number;
  /** Frames re-posted on request. */
  readonly framesResent: number;
  /** Times frames were given up as lost. */
  readonly losses: number;
  /** Times the flow-control window was full. */
  readonly stalls: number;
}

/** Why a bus lost events for good (see {@linkcode BusLoss}). */
export type LossReason =
  /** Instances lost messages between them and could not recover them. */
  | "bus-gap"
  /** The shared log was recreated (e.g. Redis restarted empty). */
  | "log-recreated"
  /** The shared log was trimmed past events this process had not read. */
  | "log-trimmed";

/**
 * Events a bus lost for good, told to the hub so that the streams that may
 * have missed them get an in-band `event: reset`. The engine also moves its
 * history's floor past the loss (a bus's horizon, a log's generation), so
 * replays from before it report a reset too.
 */
export interface BusLoss {
  /** What happened. */
  readonly reason: LossReason;
  /** The topics that may have lost events; null when the bus cannot tell (all). */
  readonly topics: readonly string[] | null;
}

/**
 * Carries events to every instance and orders them.
 *
 * The contract every implementation keeps:
 * - `publish()` gives the draft an id and resolves with the event once the bus
 *   has accepted it; it rejects (with {@linkcode BusUnavailableError}) when it
 *   cannot, so nothing is dropped silently.
 * - Every listener sees every published event, from every instance, this one
 *   included, exactly once and in increasing id order; what it loses for
 *   good despite that, it reports through `onLoss`, never silently.
 * - Presence sums the client counts that instances report.
 */
export interface Bus {
  /** This instance's name on the bus, when it has one (shown in welcomes and stats). */
  readonly instance?: string;
  /**
   * Events delivered out of order because their sender went silent past its
   * timeout (see total_order.ts), when the bus orders events itself.
   */
  readonly late?: number;
  /** Gives the draft an id and carries it to every instance. */
  publish(draft: EventDraft, options?: PublishOptions): Promise<HubEvent>;
  /** Calls `listener` with every event in id order; returns the unsubscribe function. */
  subscribe(listener: (event: HubEvent) => void): () => void;
  /**
   * Calls `listener` when events were lost for good, before any later event
   * is delivered; returns the unsubscribe function. Optional: a bus that
   * cannot lose events (LocalBus) has no such power.
   */
  onLoss?(listener: (loss: BusLoss) => void): () => void;
  /** Tells the other instances how many streams this instance holds. */
  reportClients(count: number): void;
  /** Clients and instances across the hub. */
  presence(): Presence;
  /**
   * Streams held by every isolate of this process together: they share the
   * machine's cores, so the hub sizes its coalescing window on them (see
   * `autoCoalesceMs` in hub.ts). Optional: a bus that spans processes or
   * machines (Redis, KV) leaves it out, and the hub counts its own streams.
   */
  processClients?(): number;
  /** Stops carrying events and releases timers and channels. */
  close(): Promise<void>;
  /**
   * Why the bus cannot take a publish right now (e.g. "Redis is not
   * connected"), or null when it can; `GET /readyz` shows it. Optional: an
   * in-process bus is always ready.
   */
  unready?(): string | null;
  /** How delivery between instances went, when the bus numbers its frames. */
  readonly delivery?: DeliveryCounts;
  /**
   * Sends `read()` (this instance's counters) to the other instances with
   * each presence message, so that any instance can sum them. Optional: a
   * bus with one instance has no one to tell.
   */
  shareCounters?(read: () => Readonly<Record<string, number>>): void;
  /** The latest counters each other instance shared (up to one presence period old). */
  peerCounters?(): ReadonlyArray<Readonly<Record<string, number>>>;
}

/** Options of one {@linkcode Bus.publish}. */
export interface PublishOptions {
  /**
   * A key that no other event in the engine's log may hold (a Mercure
   * publisher's id). A bus that can check it in the same write as the
   * publish refuses a duplicate with {@linkcode DuplicateKeyError}; one that
   * cannot ignores it, and the caller checks what it knows.
   */
  readonly unique?: string;
}

/** Raised by {@linkcode Bus.publish} when another event in the log holds the `unique` key. */
export class DuplicateKeyError extends Error {
  /** Makes the error for `key`. */
  constructor(key: string) {
    super(`Cannot publish: ${JSON.stringify(key)} is already taken`);
    this.name = "DuplicateKeyError";
  }
}

/** Raised by {@linkcode Bus.publish} when the bus cannot take the event now. */
export class BusUnavailableError extends Error {
  /** Wraps the reason the bus cannot publish. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BusUnavailableError";
  }
}

/** Makes a random instance name of six `[a-z0-9]` characters. */
export function randomInstanceName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let name = "";
  for (const byte of bytes) name += (byte % 36).toString(36);
  return name;
}

/**
 * The bus of a single instance: ids from a {@linkcode HybridClock}, delivery
 * to every listener before `publish()` resolves, presence of this instance alone.
 *
 * @example Publish and receive
 * ```ts
 * import { LocalBus } from "./bus.ts";
 * const bus = new LocalBus();
 * const seen: string[] = [];
 * bus.subscribe((e) => seen.push(e.data));
 * await bus.publish({ topic: "chat", event: "chat", data: "hi" });
 * if (seen[0] !== "hi") throw new Error();
 * await bus.close();
 * ```
 */
export class LocalBus implements Bus {
  readonly #clock: HybridClock;
  readonly #listeners = new Listeners<HubEvent>();
  readonly #horizon: string;
  #clients = 0;
  #closed = false;

  /** Makes a bus; `instance` names this instance in ids. */
  constructor(instance: string = randomInstanceName()) {
    this.#clock = new HybridClock(instance);
    this.#horizon = formatId(this.#clock.next());
  }

  /** This instance's name, as written in its ids. */
  get instance(): string {
    return this.#clock.instance;
  }

  /** Gives the draft an id and delivers it to every listener. */
  publish(draft: EventDraft): Promise<HubEvent> {
    if (this.#closed) {
      return Promise.reject(
        new BusUnavailableError("Cannot publish: bus is closed"),
      );
    }
    const event: HubEvent = { ...draft, id: formatId(this.#clock.next()) };
    this.#listeners.emit(event);
    return Promise.resolve(event);
  }

  /** Calls `listener` with every event published from now on. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Records this instance's client count. */
  reportClients(count: number): void {
    this.#clients = count;
  }

  /** This instance alone. */
  presence(): Presence {
    return { clients: this.#clients, instances: 1 };
  }

  /** The id made when the bus started. */
  horizon(): string {
    return this.#horizon;
  }

  /** Stops publishing; listeners are dropped. */
  close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    return Promise.resolve();
  }
}
