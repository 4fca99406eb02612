/**
 * @module Reliable, flow-controlled FIFO delivery over a lossy broadcast
 * medium. Deno's `BroadcastChannel` keeps at most 256 undelivered messages per
 * receiver and silently drops the oldest past that (deno-notes.md), so the
 * bus cannot take "every message arrives, in order" from it. This module
 * restores it, per sender:
 *
 * - **Numbering.** Every data frame a sender posts has the next sequence
 *   number; every frame of any kind says how many data frames came before it
 *   (`next`), so a receiver sees a gap from whatever frame arrives after it.
 * - **Recovery.** A receiver holds frames that arrive after a gap, asks the
 *   sender for the missing range (`nack`), and delivers in order once it is
 *   filled. The sender keeps what its peers have not acknowledged, within a
 *   byte budget, and re-posts it. What the sender no longer holds is declared
 *   lost (`onLoss`) before anything after it is delivered: never silent.
 * - **Flow control.** A sender keeps at most a window of data frames that the
 *   slowest live peer has not acknowledged; items published meanwhile wait in
 *   an outbox and leave as one frame when the window opens. The window shrinks
 *   with the number of peers so that all of them together stay under the
 *   medium's bound.
 * - **Control frames** (presence, watermarks) are not numbered: a newer one
 *   supersedes an older one. A control frame is delivered only once every data
 *   frame before it has been, so its meaning ("my clock is past c") holds.
 *
 * It holds no channel: the owner passes `post` and calls `receive`. Web-only.
 */

/** A frame as posted on the medium: plain data, structured-clone friendly. */
export type Frame<D, C> =
  | DataFrame<D>
  | ControlFrame<C>
  | NackFrame
  | ResendFrame<D>;

interface Header {
  /** Marks herald's frames. */
  readonly herald: 2;
  /** The sender's name. */
  readonly from: string;
  /** When the sender started (ms): a peer born after us is heard from its first frame. */
  readonly born: number;
  /** Data frames the sender had posted before this frame. */
  readonly next: number;
  /** For each peer, how many of its data frames the sender holds in order. */
  readonly acks: Readonly<Record<string, number>>;
  /**
   * For each peer the sender has heard, its first data frame after that: the
   * peer must get every frame from there on (earlier ones may predate it).
   */
  readonly starts: Readonly<Record<string, number>>;
}

interface DataFrame<D> extends Header {
  readonly kind: "data";
  readonly seq: number;
  readonly items: readonly D[];
}

interface ControlFrame<C> extends Header {
  readonly kind: "control";
  /** The owner's message; null for a bare acknowledgement. */
  readonly body: C | null;
  /** Asks every receiver to acknowledge at once (the sender's window is full). */
  readonly poll: boolean;
}

interface NackFrame extends Header {
  readonly kind: "nack";
  readonly to: string;
  /** The first data frame of `to` that the sender is missing. */
  readonly first: number;
}

interface ResendFrame<D> extends Header {
  readonly kind: "resend";
  readonly to: string;
  /** Frames re-posted, in order. */
  readonly frames: ReadonlyArray<
    { readonly seq: number; readonly items: readonly D[] }
  >;
  /** Frames below this number are gone from the sender for good. */
  readonly gone: number;
}

/** Counts for stats and tests. */
export interface ReliableChannelStats {
  /** Data frames this sender posted (first sends). */
  readonly framesSent: number;
  /** Gaps this receiver asked to be filled. */
  readonly nacksSent: number;
  /** Frames this sender re-posted on request. */
  readonly framesResent: number;
  /** Times this receiver gave frames up as lost. */
  readonly losses: number;
  /** Times the window was full and items waited in the outbox. */
  readonly stalls: number;
}

/** Options for {@linkcode ReliableChannel}. */
export interface ReliableChannelOptions<D, C> {
  /** Posts a frame to every peer; may lose it. */
  post: (frame: Frame<D, C>) => void;
  /** Takes a peer's data items, in the order the peer sent them, each once. */
  onData: (from: string, items: readonly D[]) => void;
  /** Takes a peer's control message, after all the data it sent before it. */
  onControl: (from: string, body: C) => void;
  /**
   * Frames from `from` are lost for good; called before the first item or
   * control message after them is handed on.
   */
  onLoss: (from: string) => void;
  /**
   * `from` was first heard with no word on where this end should start (it
   * spoke before it heard us join), so the frames it posted just before are
   * not known to be complete: the owner should treat what came before the
   * next item from it as possibly missed. @default {() => {}}
   */
  onGuessedStart?: (from: string) => void;
  /** The body of acknowledgements (e.g. the owner's clock). @default {() => null} */
  ackBody?: () => C | null;
  /** The bytes an item takes, for the budgets. @default {() => 1024} */
  size?: (item: D) => number;
  /**
   * Data frames in flight to the slowest peer. "auto" keeps all peers
   * together under {@linkcode MEDIUM_BUDGET} frames; `Infinity` turns flow
   * control off (tests of recovery).
   *
   * @default {"auto"}
   */
  window?: number | "auto";
  /** Bytes kept for re-posting; past it, the oldest go. @default {67108864} */
  maxBufferedBytes?: number;
  /** Bytes that may wait for the window; see {@linkcode ReliableChannel.room}. @default {67108864} */
  maxOutboxBytes?: number;
  /** Bytes re-posted in one frame. @default {8388608} */
  maxResendBytes?: number;
  /** How often a gap is asked for again, and a full window polled. @default {50} */
  retryMs?: number;
  /** A gap still open after this long is declared lost. @default {1500} */
  giveUpMs?: number;
  /** The wall clock in ms. @default {Date.now} */
  now?: () => number;
}

/**
 * Messages a receiver may hold undelivered before the medium drops some
 * (Deno's BroadcastChannel: 256), less room for control frames.
 */
export const MEDIUM_BUDGET = 128;

/** The window for `peers` peers: each peer's frames are acknowledged by all the others. */
export function autoWindow(peers: number): number {
  const n = Math.max(1, peers);
  return Math.max(2, Math.min(64, Math.floor(MEDIUM_BUDGET / (n * n))));
}

interface Inbound<D, C> {
  /** The next data frame expected from this peer. */
  expected: number;
  /** Frames that came after a gap. */
  readonly pending: Map<number, readonly D[]>;
  /** Control messages that came after a gap, with the data count before each. */
  stash: Array<{ readonly next: number; readonly body: C }>;
  /** The highest frame count this peer has announced. */
  known: number;
  /** When the current gap was first seen (ms), or null. */
  gapSince: number | null;
  lastNack: number;
}

interface Sent<D> {
  readonly seq: number;
  readonly items: readonly D[];
  readonly bytes: number;
}

/** Peers forgotten, remembered so that a peer heard again resumes where it was. */
const MAX_REMEMBERED = 1024;

/**
 * One instance's end of the medium: sends its own items reliably and hands on
 * every peer's, in order, each once.
 *
 * @example Two ends over a perfect medium
 * ```ts
 * import { type Frame, ReliableChannel } from "./reliable_channel.ts";
 * const got: string[] = [];
 * const ends = new Map<string, ReliableChannel<string, never>>();
 * const make = (instance: string) =>
 *   new ReliableChannel<string, never>(instance, {
 *     post: (frame: Frame<string, never>) => {
 *       for (const [name, end] of ends) if (name !== instance) end.receive(frame);
 *     },
 *     onData: (_from, items) => got.push(...items),
 *     onControl: () => {},
 *     onLoss: () => {},
 *   });
 * ends.set("a", make("a"));
 * ends.set("b", make("b"));
 * ends.get("a")!.send("hi");
 * await Promise.resolve();
 * if (got[0] !== "hi") throw new Error();
 * for (const end of ends.values()) end.close();
 * ```
 */
export class ReliableChannel<D, C> {
  /** This end's name. */
  readonly instance: string;
  readonly #options: ReliableChannelOptions<D, C>;
  readonly #born: number;
  readonly #now: () => number;
  readonly #size: (item: D) => number;
  readonly #window: number | "auto";
  readonly #maxBufferedBytes: number;
  readonly #maxOutboxBytes: number;
  readonly #maxResendBytes: number;
  readonly #retryMs: number;
  readonly #giveUpMs: number;
  // Sending.
  #seq = 0;
  readonly #sent: Sent<D>[] = [];
  #sentStart = 0;
  #bufferedBytes = 0;
  /** The last re-post per peer, so that repeated asks do not repeat it. */
  readonly #lastResend = new Map<string, { first: number; at: number }>();
  #outbox: D[] = [];
  #outboxBytes = 0;
  #flushQueued = false;
  readonly #roomWaiters = new Set<() => void>();
  #stalledSince: number | null = null;
  #lastPoll = 0;
  readonly #peerAcks = new Map<string, number>();
  readonly #starts = new Map<string, number>();
  // Receiving.
  readonly #inbound = new Map<string, Inbound<D, C>>();
  readonly #remembered = new Map<string, number>();
  #ackQueued = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #stats = {
    framesSent: 0,
    nacksSent: 0,
    framesResent: 0,
    losses: 0,
    stalls: 0,
  };

  /** Opens `instance`'s end; nothing is posted until it sends. */
  constructor(instance: string, options: ReliableChannelOptions<D, C>) {
    this.instance = instance;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#born = this.#now();
    this.#size = options.size ?? (() => 1024);
    this.#window = options.window ?? "auto";
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.#maxOutboxBytes = options.maxOutboxBytes ?? 64 * 1024 * 1024;
    this.#maxResendBytes = options.maxResendBytes ?? 8 * 1024 * 1024;
    this.#retryMs = options.retryMs ?? 50;
    this.#giveUpMs = options.giveUpMs ?? 1500;
  }

  /** Counts so far. */
  get stats(): ReliableChannelStats {
    return { ...this.#stats };
  }

  /** Peers this end waits for (heard from and not forgotten). */
  get peers(): number {
    return this.#peerAcks.size;
  }

  /**
   * Resolves true once the outbox has room for `bytes` more (at once when it
   * has), or false when it still has none after `timeoutMs`: a peer that does
   * not keep up slows senders down rather than growing memory.
   */
  room(bytes: number, timeoutMs: number): Promise<boolean> {
    if (this.#outboxBytes + bytes <= this.#maxOutboxBytes) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = (): void => {
        if (this.#outboxBytes + bytes > this.#maxOutboxBytes && !this.#closed) {
          return;
        }
        clearTimeout(timer);
        this.#roomWaiters.delete(waiter);
        resolve(!this.#closed);
      };
      const timer = setTimeout(() => {
        this.#roomWaiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.#roomWaiters.add(waiter);
    });
  }

  /**
   * Sends `item` to every peer, in order with this end's other items; items
   * sent in one task leave as one frame. Callers keep the outbox within its
   * budget with {@linkcode ReliableChannel.room}.
   */
  send(item: D): void {
    const bytes = this.#size(item);
    this.#outbox.push(item);
    this.#outboxBytes += bytes;
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush(false);
    });
  }

  /** Posts a control message now, after all data sent so far. */
  control(body: C): void {
    this.#flush(false);
    this.#postControl(body, false);
  }

  /** Takes a frame from the medium (anything else is ignored). */
  receive(message: unknown): void {
    if (this.#closed || !isFrame<D, C>(message)) return;
    const frame = message;
    if (frame.from === this.instance) return;
    this.#takeAcks(frame);
    const inbound = this.#inboundOf(frame);
    switch (frame.kind) {
      case "data":
        this.#takeData(frame.from, inbound, frame.seq, frame.items);
        break;
      case "control":
        this.#takeControl(frame.from, inbound, frame.next, frame.body);
        if (frame.poll) this.#queueAck();
        break;
      case "nack":
        if (frame.to === this.instance) this.#resend(frame.first, frame.from);
        break;
      case "resend": {
        const before = inbound.expected;
        for (const { seq, items } of frame.frames) {
          this.#takeData(frame.from, inbound, seq, items);
        }
        if (frame.gone > inbound.expected) {
          this.#giveUp(frame.from, inbound, frame.gone);
        }
        if (inbound.expected > before && inbound.expected < inbound.known) {
          // Progress: the gap is being filled, so ask for the rest at once.
          inbound.gapSince = this.#now();
          this.#nack(frame.from, inbound);
        }
        break;
      }
    }
    // Whatever the frame, it says how many data frames came before it.
    this.#noteAnnounced(frame.from, inbound, frame.next);
  }

  /** The oldest item waiting for the window (its sender may not claim to be past it). */
  get firstWaiting(): D | undefined {
    return this.#outbox[0];
  }

  /** Stops waiting for `peer` (it left or went silent); remembers where it was. */
  forget(peer: string): void {
    this.#peerAcks.delete(peer);
    this.#starts.delete(peer);
    const inbound = this.#inbound.get(peer);
    if (inbound !== undefined) {
      this.#inbound.delete(peer);
      this.#remembered.set(peer, inbound.expected);
      if (this.#remembered.size > MAX_REMEMBERED) {
        const oldest = this.#remembered.keys().next().value;
        if (oldest !== undefined) this.#remembered.delete(oldest);
      }
    }
    this.#trimSent();
    this.#flush(false);
  }

  /** Posts whatever waits, window or not, then `last` (e.g. a goodbye), then stops. */
  close(last?: C): void {
    if (this.#closed) return;
    this.#flush(true);
    if (last !== undefined) this.#postControl(last, false);
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const waiter of [...this.#roomWaiters]) waiter();
  }

  // --- sending -------------------------------------------------------------

  #windowSize(): number {
    return this.#window === "auto"
      ? autoWindow(this.#peerAcks.size)
      : this.#window;
  }

  /** Data frames the slowest peer has not acknowledged. */
  #inFlight(): number {
    let lowest = this.#seq;
    for (const acked of this.#peerAcks.values()) {
      if (acked < lowest) lowest = acked;
    }
    return this.#seq - lowest;
  }

  #flush(force: boolean): void {
    if (this.#closed || this.#outbox.length === 0) return;
    if (!force && this.#inFlight() >= this.#windowSize()) {
      if (this.#stalledSince === null) {
        this.#stalledSince = this.#now();
        this.#stats.stalls++;
      }
      this.#schedule();
      return;
    }
    this.#stalledSince = null;
    const items = this.#outbox;
    const bytes = this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    const seq = this.#seq++;
    this.#sent.push({ seq, items, bytes });
    this.#bufferedBytes += bytes;
    this.#stats.framesSent++;
    // With no peer to wait for (one isolate), nothing needs keeping.
    if (this.#peerAcks.size === 0) this.#trimSent();
    this.#evictOverBudget();
    this.#post({ ...this.#header(seq), kind: "data", seq, items });
    for (const waiter of [...this.#roomWaiters]) waiter();
  }

  #postControl(body: C | null, poll: boolean): void {
    if (this.#closed) return;
    this.#post({ ...this.#header(this.#seq), kind: "control", body, poll });
  }

  #header(next: number): Header {
    const acks: Record<string, number> = {};
    for (const [peer, inbound] of this.#inbound) acks[peer] = inbound.expected;
    const starts = Object.fromEntries(this.#starts);
    return {
      herald: 2,
      from: this.instance,
      born: this.#born,
      next,
      acks,
      starts,
    };
  }

  #post(frame: Frame<D, C>): void {
    this.#options.post(frame);
  }

  #takeAcks(frame: Header): void {
    const acked = frame.acks[this.instance];
    if (typeof acked !== "number") {
      // A peer that has not heard from us yet counts for the window and keeps
      // what we still hold until it says what it has.
      if (!this.#peerAcks.has(frame.from)) {
        this.#peerAcks.set(
          frame.from,
          this.#sent[this.#sentStart]?.seq ?? this.#seq,
        );
        this.#starts.set(frame.from, this.#seq);
      }
      return;
    }
    const before = this.#peerAcks.get(frame.from);
    if (before !== undefined && acked <= before) return;
    this.#peerAcks.set(frame.from, acked);
    this.#trimSent();
    if (this.#outbox.length > 0) this.#flush(false);
  }

  /** Drops the frames every peer has. */
  #trimSent(): void {
    let lowest = this.#seq;
    for (const acked of this.#peerAcks.values()) {
      if (acked < lowest) lowest = acked;
    }
    while (this.#sentStart < this.#sent.length) {
      const first = this.#sent[this.#sentStart];
      if (first === undefined || first.seq >= lowest) break;
      this.#dropFirstSent();
    }
  }

  /** Past the byte budget, the oldest frames go even if a peer lacks them. */
  #evictOverBudget(): void {
    while (
      this.#bufferedBytes > this.#maxBufferedBytes &&
      this.#sent.length - this.#sentStart > 1
    ) {
      this.#dropFirstSent();
    }
  }

  #dropFirstSent(): void {
    const first = this.#sent[this.#sentStart];
    if (first === undefined) return;
    this.#bufferedBytes -= first.bytes;
    this.#sent[this.#sentStart] = undefined as unknown as Sent<D>;
    this.#sentStart++;
    if (this.#sentStart === this.#sent.length) {
      this.#sent.length = 0;
      this.#sentStart = 0;
    } else if (
      this.#sentStart >= 64 && this.#sentStart * 2 >= this.#sent.length
    ) {
      this.#sent.splice(0, this.#sentStart);
      this.#sentStart = 0;
    }
  }

  /**
   * Re-posts the frames from `first` on that are still held; those no longer
   * held (evicted, or dropped while `to` was forgotten) are declared gone.
   */
  #resend(first: number, to: string): void {
    const now = this.#now();
    const last = this.#lastResend.get(to);
    if (last?.first === first && now - last.at < 2 * this.#retryMs) return;
    this.#lastResend.set(to, { first, at: now });
    const held = this.#sent[this.#sentStart]?.seq ?? this.#seq;
    const frames: Array<{ seq: number; items: readonly D[] }> = [];
    let bytes = 0;
    for (let i = this.#sentStart; i < this.#sent.length; i++) {
      const sent = this.#sent[i];
      if (sent === undefined || sent.seq < first) continue;
      if (frames.length > 0 && bytes + sent.bytes > this.#maxResendBytes) break;
      frames.push({ seq: sent.seq, items: sent.items });
      bytes += sent.bytes;
    }
    const gone = first < held ? held : 0;
    if (frames.length === 0 && gone === 0) return;
    this.#stats.framesResent += frames.length;
    this.#post({
      ...this.#header(this.#seq),
      kind: "resend",
      to,
      frames,
      gone,
    });
  }

  // --- receiving -----------------------------------------------------------

  #inboundOf(frame: Frame<D, C>): Inbound<D, C> {
    let inbound = this.#inbound.get(frame.from);
    if (inbound !== undefined) return inbound;
    const remembered = this.#remembered.get(frame.from);
    this.#remembered.delete(frame.from);
    // Where to start: where we were, if we forgot it; where it says we must
    // (its first frame after hearing us); frame 0 of a peer born after us;
    // else the frame in hand (the peer spoke before it heard us join).
    const told = frame.starts[this.instance];
    let start = remembered ??
      (typeof told === "number" ? told : frame.born > this.#born ? 0 : null);
    if (start === null) {
      start = frame.kind === "data" ? frame.seq : frame.next;
      this.#options.onGuessedStart?.(frame.from);
    }
    inbound = {
      expected: start,
      pending: new Map(),
      stash: [],
      known: start,
      gapSince: null,
      lastNack: 0,
    };
    this.#inbound.set(frame.from, inbound);
    return inbound;
  }

  #takeData(
    from: string,
    inbound: Inbound<D, C>,
    seq: number,
    items: readonly D[],
  ): void {
    if (seq < inbound.expected || inbound.pending.has(seq)) return;
    if (seq > inbound.expected) {
      inbound.pending.set(seq, items);
      this.#noteAnnounced(from, inbound, seq + 1);
      return;
    }
    inbound.expected++;
    this.#options.onData(from, items);
    this.#drain(from, inbound);
    this.#queueAck();
  }

  #takeControl(
    from: string,
    inbound: Inbound<D, C>,
    next: number,
    body: C | null,
  ): void {
    if (next <= inbound.expected) {
      if (body !== null) this.#options.onControl(from, body);
      return;
    }
    if (body !== null) {
      inbound.stash.push({ next, body });
      // Newer state supersedes older: keep a few.
      if (inbound.stash.length > 16) inbound.stash.shift();
    }
    this.#noteAnnounced(from, inbound, next);
  }

  /** Hands on the pending frames and stashed controls that are now in order. */
  #drain(from: string, inbound: Inbound<D, C>): void {
    for (;;) {
      const items = inbound.pending.get(inbound.expected);
      if (items === undefined) break;
      inbound.pending.delete(inbound.expected);
      inbound.expected++;
      this.#options.onData(from, items);
    }
    if (inbound.stash.length > 0) {
      const ready = inbound.stash.filter((s) => s.next <= inbound.expected);
      inbound.stash = inbound.stash.filter((s) => s.next > inbound.expected);
      for (const { body } of ready) this.#options.onControl(from, body);
    }
    if (inbound.expected >= inbound.known) inbound.gapSince = null;
  }

  /** `from` has posted `next` data frames: open a gap if some are missing. */
  #noteAnnounced(from: string, inbound: Inbound<D, C>, next: number): void {
    if (next > inbound.known) inbound.known = next;
    if (inbound.expected >= inbound.known) return;
    if (inbound.gapSince === null) {
      inbound.gapSince = this.#now();
      this.#nack(from, inbound);
    }
    this.#schedule();
  }

  #nack(from: string, inbound: Inbound<D, C>): void {
    inbound.lastNack = this.#now();
    this.#stats.nacksSent++;
    this.#post({
      ...this.#header(this.#seq),
      kind: "nack",
      to: from,
      first: inbound.expected,
    });
  }

  /** Declares the frames below `upTo` that never came lost, and goes on. */
  #giveUp(from: string, inbound: Inbound<D, C>, upTo: number): void {
    let lost = false;
    while (inbound.expected < upTo) {
      const items = inbound.pending.get(inbound.expected);
      if (items === undefined) {
        if (!lost) {
          lost = true;
          this.#stats.losses++;
          this.#options.onLoss(from);
        }
      } else {
        inbound.pending.delete(inbound.expected);
        this.#options.onData(from, items);
      }
      inbound.expected++;
    }
    inbound.gapSince = null;
    this.#drain(from, inbound);
    this.#queueAck();
  }

  #queueAck(): void {
    if (this.#ackQueued || this.#closed) return;
    this.#ackQueued = true;
    queueMicrotask(() => {
      this.#ackQueued = false;
      this.#postControl(this.#options.ackBody?.() ?? null, false);
    });
  }

  // --- timer ---------------------------------------------------------------

  #schedule(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#onTimer();
    }, this.#retryMs);
  }

  #onTimer(): void {
    if (this.#closed) return;
    const now = this.#now();
    let again = false;
    for (const [from, inbound] of this.#inbound) {
      if (inbound.expected >= inbound.known) continue;
      if (
        inbound.gapSince !== null && now - inbound.gapSince >= this.#giveUpMs
      ) {
        // Give up to the first frame we hold, or all that was announced.
        let upTo = inbound.known;
        for (const seq of inbound.pending.keys()) upTo = Math.min(upTo, seq);
        this.#giveUp(from, inbound, upTo);
        if (inbound.expected < inbound.known) {
          inbound.gapSince = now;
          again = true;
        }
        continue;
      }
      inbound.gapSince ??= now;
      if (now - inbound.lastNack >= this.#retryMs) this.#nack(from, inbound);
      again = true;
    }
    if (this.#outbox.length > 0) {
      this.#flush(false);
      if (this.#outbox.length > 0) {
        // The window is full: an acknowledgement may have been lost, so ask.
        if (now - this.#lastPoll >= this.#retryMs) {
          this.#lastPoll = now;
          this.#postControl(this.#options.ackBody?.() ?? null, true);
        }
        again = true;
      }
    }
    if (again) this.#schedule();
  }
}

function isFrame<D, C>(value: unknown): value is Frame<D, C> {
  if (typeof value !== "object" || value === null) return false;
  const frame = value as Partial<Header> & { kind?: unknown };
  return frame.herald === 2 && typeof frame.from === "string" &&
    typeof frame.born === "number" && typeof frame.next === "number" &&
    typeof frame.acks === "object" && frame.acks !== null &&
    typeof frame.starts === "object" && frame.starts !== null &&
    (frame.kind === "data" || frame.kind === "control" ||
      frame.kind === "nack" || frame.kind === "resend");
}
