/**
 * @module Total-order delivery over FIFO channels (Lamport, 1978): events
 * stamped by several isolates' hybrid clocks are handed on in id order, each
 * once. It holds no channel and no timer; `broadcast_channel_bus.ts` feeds it.
 * Web-only.
 *
 * Why it holds: every peer's ids only grow, and a channel keeps each sender's
 * messages in order. So once a peer has said "my clock is at c" (in an event,
 * an acknowledgement or a presence message), nothing it sends later sorts at
 * or before c. An event is released when every known peer's watermark has
 * reached its id: no event sorting before it can still arrive.
 */
import type { HubEvent } from "../../lib/bus.ts";
import {
  compareIds,
  type EventId,
  maxId,
  ZERO_ID,
} from "../../lib/event_id.ts";

interface Pending {
  readonly id: EventId;
  readonly event: HubEvent;
}

interface Peer {
  watermark: EventId;
  lastHeard: number;
}

/**
 * Holds events until no earlier one can arrive, then delivers them in order.
 *
 * @example Two isolates: a's event waits for b's watermark
 * ```ts
 * import { TotalOrder } from "./total_order.ts";
 * const seen: string[] = [];
 * const order = new TotalOrder((e) => seen.push(e.id));
 * order.heard("b", { ms: 1, seq: 0, node: "b" }, 0);
 * order.local({ ms: 2, seq: 0, node: "a" }, { id: "2-0-a", topic: "t", event: "chat", data: "" });
 * if (seen.length !== 0) throw new Error("held until b is past 2-0-a");
 * order.heard("b", { ms: 3, seq: 0, node: "b" }, 0);
 * if (seen[0] !== "2-0-a") throw new Error();
 * ```
 */
export class TotalOrder {
  readonly #deliver: (event: HubEvent) => void;
  readonly #peers = new Map<string, Peer>();
  readonly #pending: Pending[] = [];
  #released: EventId = ZERO_ID;
  #late = 0;

  /** Delivers released events to `deliver`, in id order. */
  constructor(deliver: (event: HubEvent) => void) {
    this.#deliver = deliver;
  }

  /** Events that arrived after a later one was delivered (see README). */
  get late(): number {
    return this.#late;
  }

  /** An event this isolate stamped. */
  local(id: EventId, event: HubEvent): void {
    this.#insert({ id, event });
    this.#release();
  }

  /** An event stamped by `peer`; it also moves that peer's watermark. */
  remote(peer: string, id: EventId, event: HubEvent, now: number): void {
    this.#touch(peer, id, now);
    if (compareIds(id, this.#released) <= 0) {
      // Only a peer that went unheard past its timeout can get here.
      this.#late++;
      this.#deliver(event);
      return;
    }
    this.#insert({ id, event });
    this.#release();
  }

  /** `peer` says that it will never stamp an id at or before `clock`. */
  heard(peer: string, clock: EventId, now: number): void {
    this.#touch(peer, clock, now);
    this.#release();
  }

  /** Stops waiting for `peer` (it said goodbye or went silent). */
  forget(peer: string): void {
    if (this.#peers.delete(peer)) this.#release();
  }

  /** Forgets the peers not heard since `before`; returns their names. */
  expire(before: number): string[] {
    const gone: string[] = [];
    for (const [name, peer] of this.#peers) {
      if (peer.lastHeard < before) gone.push(name);
    }
    for (const name of gone) this.#peers.delete(name);
    if (gone.length > 0) this.#release();
    return gone;
  }

  #touch(name: string, clock: EventId, now: number): void {
    const peer = this.#peers.get(name);
    if (peer === undefined) {
      this.#peers.set(name, { watermark: clock, lastHeard: now });
    } else {
      peer.watermark = maxId(peer.watermark, clock);
      peer.lastHeard = now;
    }
  }

  #insert(entry: Pending): void {
    const pending = this.#pending;
    let lo = 0;
    let hi = pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = pending[mid];
      if (other !== undefined && compareIds(other.id, entry.id) < 0) {
        lo = mid + 1;
      } else hi = mid;
    }
    pending.splice(lo, 0, entry);
  }

  #release(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    let limit: EventId | null = null;
    for (const peer of this.#peers.values()) {
      if (limit === null || compareIds(peer.watermark, limit) < 0) {
        limit = peer.watermark;
      }
    }
    let count = 0;
    for (const entry of pending) {
      if (limit !== null && compareIds(entry.id, limit) > 0) break;
      count++;
    }
    if (count === 0) return;
    const ready = pending.splice(0, count);
    for (const entry of ready) {
      this.#released = entry.id;
      this.#deliver(entry.event);
    }
  }
}
