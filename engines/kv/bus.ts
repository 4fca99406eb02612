/**
 * @module The kv engine's bus: a publish is one atomic write (the event in
 * the global log and under its topic, keyed by the commit's versionstamp,
 * which becomes its id), and a follower in each instance reads the log after
 * the last key it delivered. Polling every `pollMs` is the guarantee;
 * `kv.watch` on a doorbell key only wakes the follower sooner where it fires
 * (within one process: it does not fire across processes on a local file).
 */
import {
  type Bus,
  type BusLoss,
  BusUnavailableError,
  DuplicateKeyError,
  type EventDraft,
  type HubEvent,
  type Presence,
  type PublishOptions,
} from "../../lib/bus.ts";
import type { Logger } from "../../lib/log.ts";
import {
  type KvKeys,
  type KvRecord,
  plus,
  recordBytes,
  stampOf,
} from "./keys.ts";
import type { KvPresence } from "./presence.ts";
import { Listeners } from "../../lib/listeners.ts";

/** Deno KV's limit on one value, in bytes. */
export const KV_VALUE_LIMIT = 65536;

/** Options for {@linkcode KvBus}. */
export interface KvBusOptions {
  /** This instance's name. */
  instance: string;
  /** Where the keys are. */
  keys: KvKeys;
  /** The longest the follower waits between two reads of the log. */
  pollMs: number;
  /** Shares client counts. */
  presence: KvPresence;
  /** The stamp after which the follower starts ("" for the log's start). */
  start: string;
  /** Where read failures are written. */
  logger: Logger;
  /** The wall clock in ms, stored with each event for retention by age. */
  now: () => number;
}

/** Tries of a commit that meets a locked database (a local file shared by processes). */
const LOCKED_ATTEMPTS = 8;

/** Events the follower reads in one list call. */
const PAGE = 256;

/** Carries events through one Deno KV database, in versionstamp order. */
export class KvBus implements Bus {
  readonly #kv: Deno.Kv;
  readonly #options: KvBusOptions;
  readonly #listeners = new Listeners<HubEvent>();
  readonly #lossListeners = new Listeners<BusLoss>();
  /** The stamp of the last event delivered. */
  #cursor: string;
  #closed = false;
  #wake: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #follower: Promise<void>;
  readonly #watch: ReadableStreamDefaultReader<unknown>;
  readonly #bell: Promise<void>;
  #reported = "";

  /** Starts following the log after `options.start`. */
  constructor(kv: Deno.Kv, options: KvBusOptions) {
    this.#kv = kv;
    this.#options = options;
    this.#cursor = options.start;
    this.#watch = kv.watch([options.keys.bell]).getReader();
    this.#bell = this.#listen();
    this.#follower = this.#follow();
  }

  /** This instance's name. */
  get instance(): string {
    return this.#options.instance;
  }

  /**
   * Writes the event to the log and its topic in one atomic commit; the
   * commit's versionstamp is its id. Resolves once committed. A `unique`
   * key is claimed in the same commit, checked to be free.
   *
   * @throws {DuplicateKeyError} when another event in the log holds `unique`
   */
  async publish(
    draft: EventDraft,
    options: PublishOptions = {},
  ): Promise<HubEvent> {
    if (this.#closed) {
      throw new BusUnavailableError("Cannot publish: bus is closed");
    }
    const { keys } = this.#options;
    const unique = options.unique;
    const event = { ...draft };
    // The claimed key is stored in the record too (the trimmer frees it).
    const bytes = recordBytes(event) +
      (unique === undefined ? 0 : 2 * unique.length + 32);
    const record: KvRecord = {
      event,
      at: this.#options.now(),
      bytes,
      ...(unique === undefined ? {} : { unique }),
    };
    if (bytes > KV_VALUE_LIMIT) {
      throw new RangeError(
        `Cannot publish: the event takes up to ${bytes} bytes, above Deno KV's value limit of ${KV_VALUE_LIMIT}`,
      );
    }
    const stamp = this.#kv.commitVersionstamp();
    const commit = () => {
      const atomic = this.#kv.atomic();
      if (unique !== undefined) {
        const claim = keys.claim(unique);
        atomic.check({ key: claim, versionstamp: null }).set(claim, true);
      }
      return atomic
        .set([...keys.log, stamp], record)
        .set([...keys.topic(draft.topic), stamp], record)
        .set([...keys.topics, draft.topic], true)
        .sum(keys.count(draft.topic), plus(1))
        .sum(keys.bytes(draft.topic), plus(bytes))
        .sum(keys.allBytes, plus(bytes))
        .sum(keys.logCount, plus(1))
        .sum(keys.logBytes, plus(bytes))
        .set(keys.bell, record.at)
        .commit();
    };
    let result: Deno.KvCommitResult | Deno.KvCommitError;
    for (let attempt = 1;; attempt++) {
      try {
        result = await commit();
        break;
      } catch (error) {
        const message = (error as Error).message;
        // Processes sharing a local file contend for SQLite's write lock; a
        // commit that met it wrote nothing and is tried again, briefly.
        if (message.includes("locked") && attempt < LOCKED_ATTEMPTS) {
          await new Promise((resolve) =>
            setTimeout(resolve, attempt * 5 + Math.random() * 10)
          );
          continue;
        }
        throw new BusUnavailableError(
          `Cannot publish: Deno KV did not take the event: ${message}`,
          { cause: error },
        );
      }
    }
    if (!result.ok) {
      // The only check is the claim's.
      if (unique !== undefined) throw new DuplicateKeyError(unique);
      throw new BusUnavailableError("Cannot publish: the commit failed");
    }
    this.#ring();
    return { ...draft, id: result.versionstamp };
  }

  /** Calls `listener` with every event the follower reads, in id order. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Calls `listener` when the log was trimmed past unread events. */
  onLoss(listener: (loss: BusLoss) => void): () => void {
    return this.#lossListeners.add(listener);
  }

  /** Records this instance's client count for presence. */
  reportClients(count: number): void {
    this.#options.presence.report(count);
  }

  /** Clients and instances whose presence has not expired. */
  presence(): Presence {
    return this.#options.presence.snapshot();
  }

  /** Stops the follower, the doorbell and presence. The caller closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring();
    await this.#follower;
    await this.#watch.cancel().catch(() => {});
    await this.#bell;
    await this.#options.presence.close();
    this.#listeners.clear();
    this.#lossListeners.clear();
  }

  /** Wakes the follower now. */
  #ring(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #listen(): Promise<void> {
    try {
      while (!this.#closed) {
        const { done } = await this.#watch.read();
        if (done) return;
        this.#ring();
      }
    } catch { /* cancelled on close */ }
  }

  #sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, this.#options.pollMs);
    }).finally(() => {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
    });
  }

  async #follow(): Promise<void> {
    while (!this.#closed) {
      let full = false;
      try {
        full = await this.#readPage();
        this.#reported = "";
      } catch (error) {
        if (this.#closed) return;
        const message = (error as Error).message;
        if (message !== this.#reported) {
          this.#reported = message;
          this.#options.logger.log("warn", "Cannot read the Deno KV log", {
            instance: this.#options.instance,
            error: message,
          });
        }
      }
      if (!full && !this.#closed) await this.#sleep();
    }
  }

  /** Delivers the next page of the log; true when there may be more. */
  async #readPage(): Promise<boolean> {
    const { keys } = this.#options;
    const selector: Deno.KvListSelector = this.#cursor === ""
      ? { prefix: keys.log }
      : { prefix: keys.log, start: [...keys.log, this.#cursor] };
    const entries: Deno.KvEntry<KvRecord>[] = [];
    let listed = 0;
    for await (
      const entry of this.#kv.list<KvRecord>(selector, { limit: PAGE + 1 })
    ) {
      listed++;
      if (stampOf(entry.key) !== this.#cursor) entries.push(entry);
    }
    if (entries.length === 0 || this.#closed) return false;
    // The list starts at the cursor's own key: while it is still there,
    // nothing after it was trimmed, and no extra read is needed.
    if (this.#cursor !== "" && entries.length === listed) {
      const floor = await this.#kv.get<string>(keys.logFloor);
      if (floor.value !== null && floor.value > this.#cursor) {
        this.#options.logger.log(
          "warn",
          "The Deno KV log was trimmed past events this instance had not read",
          { instance: this.#options.instance },
        );
        this.#lossListeners.emit({ reason: "log-trimmed", topics: null });
      }
    }
    for (const entry of entries) {
      const event: HubEvent = { ...entry.value.event, id: stampOf(entry.key) };
      this.#cursor = event.id;
      this.#listeners.emit(event);
    }
    return entries.length >= PAGE;
  }
}
