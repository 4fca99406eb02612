/**
 * @module Presence through Deno KV: each instance writes its client count
 * every `intervalMs` with an expiry (and the time it wrote it, since KV
 * deletes expired keys lazily), and sums the entries that are still fresh.
 */
import type { Presence } from "../../lib/bus.ts";
import type { KvKeys } from "./keys.ts";

/** Options for {@linkcode KvPresence}. */
export interface KvPresenceOptions {
  /** This instance's name; unique per instance. */
  instance: string;
  /** How often the count is written and the others read. */
  intervalMs: number;
  /** How long an entry counts after its last write. */
  ttlMs: number;
  /** Called when a refresh fails. */
  onError: (error: Error) => void;
}

interface Entry {
  readonly clients: number;
  readonly at: number;
}

/** Shares this instance's client count and sums everyone's. */
export class KvPresence {
  readonly #kv: Deno.Kv;
  readonly #keys: KvKeys;
  readonly #options: KvPresenceOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #clients = 0;
  #otherClients = 0;
  #otherInstances = 0;
  #inFlight: Promise<void> | null = null;
  #closed = false;

  /** Starts refreshing every `intervalMs`. */
  constructor(kv: Deno.Kv, keys: KvKeys, options: KvPresenceOptions) {
    this.#kv = kv;
    this.#keys = keys;
    this.#options = options;
    this.#timer = setInterval(() => void this.refresh(), options.intervalMs);
  }

  /** Records this instance's client count (written at the next refresh). */
  report(clients: number): void {
    this.#clients = clients;
  }

  /** This instance's count now, plus the others' as last read. */
  snapshot(): Presence {
    return {
      clients: this.#clients + this.#otherClients,
      instances: 1 + this.#otherInstances,
    };
  }

  /** Writes this instance's entry and reads the others' (one at a time). */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#inFlight ??= this.#refresh().finally(() => this.#inFlight = null);
    return this.#inFlight;
  }

  async #refresh(): Promise<void> {
    const { instance, ttlMs } = this.#options;
    try {
      const now = Date.now();
      await this.#kv.set(
        [...this.#keys.presence, instance],
        { clients: this.#clients, at: now } satisfies Entry,
        { expireIn: ttlMs },
      );
      let clients = 0;
      let instances = 0;
      for await (
        const entry of this.#kv.list<Entry>({ prefix: this.#keys.presence })
      ) {
        if (entry.key[entry.key.length - 1] === instance) continue;
        if (entry.value.at + ttlMs < now) continue;
        clients += entry.value.clients;
        instances++;
      }
      this.#otherClients = clients;
      this.#otherInstances = instances;
    } catch (error) {
      if (!this.#closed) this.#options.onError(error as Error);
    }
  }

  /** Stops refreshing and removes this instance's entry. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#inFlight;
    this.#closed = true;
    try {
      await this.#kv.delete([...this.#keys.presence, this.#options.instance]);
    } catch { /* the entry expires by itself */ }
  }
}
