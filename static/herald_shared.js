/**
 * @module herald_shared.js: one stream per browser, shared by every tab of a
 * site; what `connect(url, { shared: true })` returns. Plain JavaScript, no
 * dependencies; imported by `./herald.js`.
 *
 * Over HTTP/1.1 a browser opens at most six connections per site and every
 * `EventSource` holds one, so the seventh tab hangs. Here one tab, the leader,
 * holds the stream:
 * - the leader is the tab holding a Web Lock named after the hub's `/events`
 *   URL; when it closes or crashes the browser hands the lock to another tab;
 * - every tab announces its topics, event names and last id over a
 *   `BroadcastChannel`; the leader's stream follows the union of their topics
 *   (an ordinary {@linkcode HeraldConnection}, so reconnects, backoff and the
 *   reasons for a refusal are the same) and relays each event to every tab;
 * - each tab keeps only the events of its own topics, and only those after
 *   the last id it delivered (ids are totally ordered across topics), so a
 *   replay never shows an event twice and every tab sees its events in order;
 * - a new leader, and a leader whose union of topics changed, reopens the
 *   stream with `?lastEventId=` from the earliest last id any tab reported:
 *   whatever one tab missed is replayed, and the others drop what they had.
 *
 * Where Web Locks or BroadcastChannel is missing, the tab keeps a stream of its
 * own (role `alone`), with the same API.
 */

import { HeraldConnection, NAME_PATTERN } from "./herald.js";

/** The hub's default topic, which a stream with no `topic` follows. */
const DEFAULT_TOPIC = "chat";

/** How often a leader forgets tabs that are gone (crashed without a word). */
const PRUNE_MS = 3000;

/** How long a tab waits before telling the others how far it got. */
const ACK_MS = 50;

/**
 * Who holds the stream, as seen from one tab:
 * - `role`: `leader` (this tab holds it), `follower` (another tab does) or
 *   `alone` (Web Locks or BroadcastChannel is missing: a stream of its own);
 * - `tab`: this tab's id; `leader`: the id of the tab holding the stream (null
 *   until one answers); `tabs`: how many tabs share it.
 * @typedef {object} SharingInfo
 * @property {"leader" | "follower" | "alone"} role
 * @property {string} tab
 * @property {string | null} leader
 * @property {number} tabs
 */

/**
 * What a tab tells the others about itself.
 * @typedef {object} TabState
 * @property {string[]} topics
 * @property {string[]} names
 * @property {string} last
 */

/** Whether this browser can share one stream between tabs. @returns {boolean} */
export function canShare() {
  return typeof BroadcastChannel === "function" &&
    typeof globalThis.navigator?.locks?.request === "function";
}

/**
 * A subscription whose stream is shared with the other tabs of this site;
 * made by `connect(url, { shared: true })`. Same API as
 * {@linkcode HeraldConnection}, plus {@linkcode SharedHeraldConnection#sharing}.
 */
export class SharedHeraldConnection {
  /** @type {URL} */
  #baseUrl;
  /** @type {import("./herald.js").ConnectOptions} */
  #options;
  /** @type {string[]} */
  #topics;
  /** @type {string} */
  #key;
  #tab = randomId();
  /** @type {BroadcastChannel | null} */
  #channel = null;
  /** @type {Map<string, Set<import("./herald.js").HeraldHandler>>} */
  #handlers = new Map();
  /** The last id delivered in this tab. */
  #last;
  /** @type {import("./herald.js").HeraldStatus | null} */
  #status = null;
  /** @type {import("./herald.js").StatusDetail} */
  #detail;
  /** Whether this tab has shown a welcome since it last (re)connected. */
  #welcomed = false;
  /** Whether this tab takes part (false after close()). */
  #joined = false;
  /** @type {SharingInfo} */
  #sharing;
  /** @type {AbortController | null} */
  #lockAbort = null;
  /** @type {(() => void) | null} */
  #releaseLock = null;
  /** @type {(() => void) | null} */
  #releasePresence = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #ackTimer = null;
  /** @type {Leader | null} */
  #leader = null;
  /** What the other tabs last said about themselves, by tab id. @type {Map<string, TabState>} */
  #peers = new Map();
  #onPageHide = () => this.#post({ type: "bye", tab: this.#tab });

  /**
   * @param {string | URL} url The hub's `/events` URL.
   * @param {import("./herald.js").ConnectOptions} options
   */
  constructor(url, options) {
    this.#options = options;
    const base = new URL(url, globalThis.location?.href);
    const topics = options.topics ?? base.searchParams.getAll("topic");
    for (const topic of topics) {
      if (!NAME_PATTERN.test(topic)) {
        throw new TypeError(
          `Cannot connect: "${topic}" is not a topic (letters, digits, -_.:/ and at most 128 characters)`,
        );
      }
    }
    this.#topics = topics.length > 0 ? [...new Set(topics)] : [DEFAULT_TOPIC];
    for (const name of ["topic", "lastEventId", "last_event_id"]) {
      base.searchParams.delete(name);
    }
    this.#baseUrl = base;
    this.#last = options.lastEventId ?? "";
    this.#detail = freshDetail(options.retryMs ?? 5000);
    this.#key = `herald:${base.origin}${base.pathname}${base.search}${
      options.withCredentials ? "#credentials" : ""
    }`;
    const alone = !canShare();
    this.#sharing = {
      role: alone ? "alone" : "follower",
      tab: this.#tab,
      leader: alone ? this.#tab : null,
      tabs: 1,
    };
    for (const name of ["system", "update", "reset", "chat", "message"]) {
      this.#handlers.set(name, new Set());
    }
    options.onSharing?.({ ...this.#sharing });
    this.#join();
    this.#setStatus("connecting", {});
  }

  /** The current status. @returns {import("./herald.js").HeraldStatus} */
  get status() {
    return this.#status ?? "connecting";
  }

  /** Details of the current status. @returns {import("./herald.js").StatusDetail} */
  get detail() {
    return { ...this.#detail };
  }

  /** The id of the last event this tab received ("" before any). @returns {string} */
  get lastEventId() {
    return this.#last;
  }

  /** The reconnect delay the client expects, in ms. @returns {number} */
  get retryMs() {
    return this.#detail.retryMs;
  }

  /** The topics this tab follows. @returns {string[]} */
  get topics() {
    return [...this.#topics];
  }

  /** The URL of this tab's share of the stream. @returns {string} */
  get url() {
    const url = new URL(this.#baseUrl);
    for (const topic of this.#topics) url.searchParams.append("topic", topic);
    return url.href;
  }

  /** Who holds the stream. @returns {SharingInfo} */
  get sharing() {
    return { ...this.#sharing };
  }

  /**
   * Calls `handler` for every event named `event`, as
   * {@linkcode HeraldConnection#on} does.
   * @param {string} event The event name.
   * @param {import("./herald.js").HeraldHandler} handler
   * @returns {() => void} A function that removes the handler.
   */
  on(event, handler) {
    if (event === "open" || event === "error") {
      throw new TypeError(
        `Cannot listen to "${event}": it is the connection's own; use onStatus`,
      );
    }
    if (typeof handler !== "function") {
      throw new TypeError(
        `Cannot listen to "${event}": handler is not a function`,
      );
    }
    let set = this.#handlers.get(event);
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(event, set);
      if (this.#joined) this.#announce(false);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Opens the stream again now: after {@linkcode close}, this tab joins again
   * and what it missed is replayed; otherwise the tab holding the stream
   * reconnects it at once (skipping a countdown).
   */
  reconnect() {
    if (!this.#joined) {
      this.#join();
      this.#setStatus("connecting", {});
    } else if (this.#leader !== null) {
      this.#leader.reconnect();
    } else {
      this.#post({ type: "reconnect", tab: this.#tab });
    }
  }

  /** Leaves the shared stream for good (until {@linkcode reconnect}). */
  close() {
    if (this.#joined) this.#leave();
    if (this.#status === "closed" && this.#detail.byUser) return;
    this.#setStatus("closed", { error: null, byUser: true });
  }

  #join() {
    this.#joined = true;
    this.#welcomed = false;
    if (this.#sharing.role === "alone") {
      this.#lead();
      return;
    }
    const channel = new BroadcastChannel(this.#key);
    channel.onmessage = (e) => this.#onMessage(e.data);
    this.#channel = channel;
    globalThis.addEventListener?.("pagehide", this.#onPageHide);
    const locks = navigator.locks;
    const abort = new AbortController();
    this.#lockAbort = abort;
    const { signal } = abort;
    // A lock granted after close() (or a later join) is given back at once.
    /** @param {(release: () => void) => void} hold */
    const holdWhileJoined = (hold) => () =>
      signal.aborted ? undefined : new Promise((resolve) => {
        hold(() => resolve(undefined));
      });
    // Held for the tab's life, so a leader can tell which tabs are gone.
    locks.request(
      `${this.#key}#tab:${this.#tab}`,
      { signal },
      holdWhileJoined((release) => this.#releasePresence = release),
    ).catch(() => {
      // Aborted by close() before it was granted.
    });
    locks.request(
      this.#key,
      { signal },
      holdWhileJoined((release) => {
        this.#releaseLock = release;
        this.#lead();
      }),
    ).catch(() => {
      // Aborted by close() before this tab got the lock.
    });
    this.#announce(true);
  }

  #leave() {
    this.#joined = false;
    this.#post({ type: "bye", tab: this.#tab });
    this.#leader?.stop();
    this.#leader = null;
    this.#lockAbort?.abort();
    this.#lockAbort = null;
    this.#releaseLock?.();
    this.#releaseLock = null;
    this.#releasePresence?.();
    this.#releasePresence = null;
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    globalThis.removeEventListener?.("pagehide", this.#onPageHide);
    this.#channel?.close();
    this.#channel = null;
    this.#peers.clear();
    if (this.#sharing.role !== "alone") {
      this.#setSharing({ role: "follower", leader: null, tabs: 1 });
    }
  }

  /** This tab got the lock (or is alone): it opens the stream. */
  #lead() {
    if (!this.#joined) return;
    if (this.#sharing.role !== "alone") {
      this.#setSharing({ role: "leader", leader: this.#tab });
    }
    this.#leader = new Leader({
      tab: this.#tab,
      url: this.#baseUrl,
      options: this.#options,
      self: () => this.#state(),
      post: (message) => this.#post(message),
      deliver: (message) => this.#onMessage(message),
      locks: this.#channel === null ? null : navigator.locks,
      key: this.#key,
      peers: this.#peers,
    });
  }

  /** @returns {TabState} */
  #state() {
    return {
      topics: this.#topics,
      names: [...this.#handlers.keys()],
      last: this.#last,
    };
  }

  /**
   * Tells the others this tab's topics, event names and last id (also how
   * far it got: the `ack`).
   * @param {boolean} join Whether this tab (re)joins now.
   */
  #announce(join) {
    if (this.#leader !== null) {
      this.#leader.onTab(this.#state(), join);
    } else {
      this.#post({ type: "tab", tab: this.#tab, join, ...this.#state() });
    }
  }

  /** @param {any} message */
  #post(message) {
    this.#channel?.postMessage(message);
  }

  /** @param {any} message From the channel, or from this tab's own leader. */
  #onMessage(message) {
    if (!this.#joined || message === null || typeof message !== "object") {
      return;
    }
    switch (message.type) {
      case "event":
        this.#receive(message);
        break;
      case "status":
        if (message.leader === this.#sharing.leader) {
          this.#setStatus(message.status, message.detail);
        }
        break;
      case "leader":
        if (message.leader !== this.#tab && this.#leader !== null) return;
        // The leader's position is the stream's, not a tab's.
        this.#peers.delete(message.leader);
        this.#setSharing({ leader: message.leader, tabs: message.tabs });
        break;
      case "who":
        this.#announce(false);
        break;
      case "tab":
        if (typeof message.tab === "string" && message.tab !== this.#tab) {
          this.#peers.set(message.tab, readState(message));
        }
        this.#leader?.onMessage(message);
        break;
      case "bye":
        this.#peers.delete(message.tab);
        if (message.tab === this.#sharing.leader && this.#leader === null) {
          // Another tab takes the lock and reconnects.
          this.#setSharing({ leader: null });
          this.#setStatus("connecting", {});
        }
        this.#leader?.onMessage(message);
        break;
      case "reconnect":
        this.#leader?.onMessage(message);
        break;
    }
  }

  /**
   * One relayed event: kept when it is for this tab's topics and comes after
   * the last id delivered here.
   * @param {{name: string, raw: string, id: string | null, streamLast: string, topics: string[], caughtUp?: string}} message
   */
  #receive({ name, raw, id, streamLast, topics, caughtUp = "" }) {
    /** @type {any} */
    let data = raw;
    try {
      data = JSON.parse(raw);
    } catch {
      // Not JSON: handlers get the text.
    }
    const covered = this.#topics.every((topic) => topics.includes(topic));
    if (id !== null) {
      if (this.#topics.includes(data?.topic) && isAfter(id, this.#last)) {
        this.#last = id;
        this.#dispatch(name, data, raw, id);
      }
    } else if (name === "system") {
      const welcome = isWelcome(raw);
      if (!welcome || !this.#welcomed) this.#dispatch(name, data, raw, null);
      if (welcome) this.#welcomed = true;
    } else if (name === "reset") {
      if (this.#isMyReset(data, caughtUp)) {
        this.#dispatch(name, data, raw, null);
      }
    } else {
      this.#dispatch(name, data, raw, null);
    }
    // Every event of this tab's topics up to the stream's position came first.
    if (covered && streamLast !== "" && isAfter(streamLast, this.#last)) {
      this.#last = streamLast;
    }
    this.#scheduleAck();
  }

  /**
   * Whether a `reset` concerns this tab. A reset sent on open, before a
   * replay (`unknown-id`, `history-exceeded`), concerns a tab that follows a
   * topic it names and was behind the replay: not one that has seen nothing
   * and asked for nothing, nor one that had already seen everything up to
   * `caughtUp` (where the stream was when another tab asked for an older id).
   * A reset in the middle of a stream (events lost live) concerns every tab
   * of its topics.
   * @param {any} data
   * @param {string} caughtUp
   * @returns {boolean}
   */
  #isMyReset(data, caughtUp) {
    const lost = Array.isArray(data?.topics) ? data.topics : this.#topics;
    if (!this.#topics.some((topic) => lost.includes(topic))) return false;
    if (data?.reason !== "unknown-id" && data?.reason !== "history-exceeded") {
      return true;
    }
    return this.#last !== "" &&
      (caughtUp === "" || isAfter(caughtUp, this.#last));
  }

  /**
   * @param {string} name
   * @param {any} data
   * @param {string} raw
   * @param {string | null} id
   */
  #dispatch(name, data, raw, id) {
    /** @type {import("./herald.js").HeraldEvent} */
    const event = { data, id, event: name, raw };
    if (name === "system" && typeof data?.retry === "number") {
      this.#detail.retryMs = data.retry;
    }
    if (name === "reset") this.#options.onReset?.(data, event);
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(event);
      } catch (error) {
        reportError(error);
      }
    }
  }

  #scheduleAck() {
    if (this.#ackTimer !== null || this.#channel === null) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      if (this.#leader === null && this.#joined) this.#announce(false);
    }, ACK_MS);
  }

  /**
   * @param {import("./herald.js").HeraldStatus} status
   * @param {Partial<import("./herald.js").StatusDetail>} detail
   */
  #setStatus(status, detail) {
    const next = { ...freshDetail(this.#detail.retryMs), ...detail };
    if (
      status === this.#status &&
      JSON.stringify({ ...next, retryMs: 0 }) ===
        JSON.stringify({ ...this.#detail, retryMs: 0 })
    ) {
      // Nothing new (a planned switch, a repeated relay), but the hint.
      this.#detail.retryMs = next.retryMs;
      return;
    }
    if (status !== "open") this.#welcomed = false;
    this.#status = status;
    this.#detail = next;
    this.#options.onStatus?.(status, { ...next });
  }

  /** @param {Partial<SharingInfo>} change */
  #setSharing(change) {
    const next = { ...this.#sharing, ...change };
    if (JSON.stringify(next) === JSON.stringify(this.#sharing)) return;
    this.#sharing = next;
    this.#options.onSharing?.({ ...next });
  }
}

/**
 * The tab holding the stream: one {@linkcode HeraldConnection} for the union
 * of every tab's topics, relayed to all of them (itself included).
 */
class Leader {
  /** @type {ConstructorParameters<typeof Leader>[0]} */
  #io;
  /** @type {Map<string, TabState>} */
  #tabs;
  /** Whether the first stream is open (after forgetting tabs that are gone). */
  #started = false;
  /** The number of tabs last announced. */
  #announced = 0;
  /** @type {HeraldConnection | null} */
  #stream = null;
  /** @type {string[]} */
  #streamTopics = [];
  /** @type {Set<string>} */
  #streamNames = new Set();
  /** The id the current stream resumed from ("" for none). */
  #from = "";
  /** Where the stream it replaced was ("" for none). */
  #caughtUp = "";
  /** @type {ReturnType<typeof setInterval> | null} */
  #pruner = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #reopenTimer = null;
  /** @type {string | null} The earliest id a tab that joined needs. */
  #needs = null;
  /** @type {{status: import("./herald.js").HeraldStatus, detail: import("./herald.js").StatusDetail} | null} */
  #lastStatus = null;
  /** @type {any} The current stream's welcome, for tabs that join later. */
  #welcome = null;
  /** Whether the next `connecting` is a planned switch, not news. */
  #switching = false;

  /**
   * @param {{
   *   tab: string,
   *   url: URL,
   *   options: import("./herald.js").ConnectOptions,
   *   self: () => TabState,
   *   post: (message: any) => void,
   *   deliver: (message: any) => void,
   *   locks: LockManager | null,
   *   key: string,
   *   peers: Map<string, TabState>,
   * }} io
   */
  constructor(io) {
    this.#io = io;
    this.#tabs = io.peers;
    this.#announceLeader(true);
    void this.#start();
  }

  async #start() {
    if (this.#io.locks !== null) {
      // Tabs that crashed meanwhile must not hold the resume id back.
      await this.#prune();
      if (this.#stopped) return;
      this.#pruner = setInterval(() => void this.#prune(), PRUNE_MS);
      this.#io.post({ type: "who", tab: this.#io.tab });
    }
    this.#started = true;
    this.#announceLeader(false);
    this.#open(this.#earliest(this.#io.self().last));
  }

  #stopped = false;

  /** Stops relaying and closes the stream (this tab leaves or closes). */
  stop() {
    this.#stopped = true;
    if (this.#pruner !== null) clearInterval(this.#pruner);
    if (this.#reopenTimer !== null) clearTimeout(this.#reopenTimer);
    const stream = this.#stream;
    this.#stream = null;
    stream?.close();
  }

  /** Reconnects the stream now (a tab's `reconnect()`). */
  reconnect() {
    this.#stream?.reconnect();
  }

  /** @param {any} message A tab's `tab`, `ack`, `bye` or `reconnect`. */
  onMessage(message) {
    if (typeof message.tab !== "string") return;
    if (message.type === "tab") {
      this.onTab(readState(message), message.join === true);
    } else if (message.type === "bye") {
      this.#changed();
    } else if (message.type === "reconnect") {
      this.reconnect();
    }
  }

  /**
   * A tab said what it follows. A tab that joins with a last id (it resumes)
   * needs a replay from there, unless the stream is already past it.
   * @param {TabState} state
   * @param {boolean} join
   */
  onTab(state, join) {
    if (!this.#started) return;
    const position = this.#stream?.lastEventId ?? "";
    const behind = state.last !== "" &&
      (join
        ? position === "" || isAfter(position, state.last)
        : this.#from === "" || isAfter(this.#from, state.last));
    if (behind) {
      this.#needs = this.#needs === null || isAfter(this.#needs, state.last)
        ? state.last
        : this.#needs;
    }
    this.#changed();
    if (join && this.#lastStatus !== null) this.#postStatus(this.#lastStatus);
    // A tab that joins an open stream gets its welcome too (the others
    // have had one and drop it).
    if (join && this.#welcome !== null) this.#relay(this.#welcome);
  }

  /**
   * The earliest last id among the tabs and `own` ("" when none has one).
   * @param {string} own
   * @returns {string}
   */
  #earliest(own) {
    let earliest = own;
    for (const { last } of this.#tabs.values()) {
      if (last !== "" && (earliest === "" || isAfter(earliest, last))) {
        earliest = last;
      }
    }
    return earliest;
  }

  /** The tabs' topics and names changed (or one needs a replay): follow them. */
  #changed() {
    if (!this.#started || this.#stopped) return;
    this.#announceLeader(false);
    const { topics, names } = this.#union();
    for (const name of names) this.#listen(name);
    const same = topics.length === this.#streamTopics.length &&
      topics.every((topic) => this.#streamTopics.includes(topic));
    if (same && this.#needs === null) return;
    // Coalesce a burst of joins into one reopen.
    if (this.#reopenTimer !== null) return;
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = null;
      if (this.#stopped) return;
      const position = this.#stream?.lastEventId ?? this.#from;
      const needs = this.#needs;
      this.#needs = null;
      const from =
        needs !== null && (position === "" || isAfter(position, needs))
          ? needs
          : position;
      this.#switching = this.#stream !== null;
      this.#open(from, position);
    }, 0);
  }

  /** @returns {{topics: string[], names: Set<string>}} */
  #union() {
    const self = this.#io.self();
    const topics = new Set(self.topics);
    const names = new Set(self.names);
    for (const tab of this.#tabs.values()) {
      for (const topic of tab.topics) topics.add(topic);
      for (const name of tab.names) names.add(name);
    }
    return { topics: [...topics].sort(), names };
  }

  /**
   * @param {string} from The id to resume after ("" for none).
   * @param {string} [caughtUp] Where the stream being replaced was: tabs
   *   that had seen that far ignore a reset about an older replay.
   */
  #open(from, caughtUp = "") {
    const old = this.#stream;
    this.#stream = null;
    old?.close();
    const { topics, names } = this.#union();
    this.#streamTopics = topics;
    this.#streamNames = new Set();
    this.#from = from;
    this.#caughtUp = caughtUp;
    this.#welcome = null;
    /** @type {HeraldConnection | null} */
    let stream = null;
    const {
      shared: _shared,
      onStatus: _onStatus,
      onReset: _onReset,
      onSharing: _onSharing,
      lastEventId: _lastEventId,
      ...options
    } = this.#io.options;
    stream = new HeraldConnection(this.#io.url, {
      ...options,
      topics,
      ...(from === "" ? {} : { lastEventId: from }),
      onStatus: (status, detail) => {
        if (stream !== null && this.#stream !== stream) return;
        if (this.#switching && status === "connecting") return;
        if (status !== "connecting") this.#switching = false;
        this.#lastStatus = { status, detail };
        this.#postStatus(this.#lastStatus);
      },
    });
    this.#stream = stream;
    for (const name of names) this.#listen(name);
  }

  /** @param {string} name */
  #listen(name) {
    const stream = this.#stream;
    if (stream === null || this.#streamNames.has(name)) return;
    this.#streamNames.add(name);
    const topics = this.#streamTopics;
    stream.on(name, ({ raw, id }) => {
      if (this.#stream !== stream) return;
      const message = {
        type: "event",
        name,
        raw,
        id,
        streamLast: stream.lastEventId,
        topics,
        ...(name === "reset" ? { caughtUp: this.#caughtUp } : {}),
      };
      if (name === "system" && isWelcome(raw)) this.#welcome = message;
      this.#relay(message);
    });
  }

  /** @param {any} message */
  #relay(message) {
    this.#io.post(message);
    this.#io.deliver(message);
  }

  /** @param {{status: import("./herald.js").HeraldStatus, detail: import("./herald.js").StatusDetail}} status */
  #postStatus({ status, detail }) {
    this.#relay({ type: "status", leader: this.#io.tab, status, detail });
  }

  /** @param {boolean} always Announce even if the number of tabs is the same. */
  #announceLeader(always) {
    const tabs = this.#tabs.size + 1;
    if (!always && tabs === this.#announced) return;
    this.#announced = tabs;
    this.#relay({
      type: "leader",
      leader: this.#io.tab,
      tabs,
    });
  }

  /** Forgets tabs whose presence lock is gone (closed or crashed). */
  async #prune() {
    const locks = this.#io.locks;
    if (locks === null) return;
    const { held = [] } = await locks.query();
    const alive = new Set(held.map((lock) => lock.name));
    let gone = false;
    for (const tab of [...this.#tabs.keys()]) {
      if (!alive.has(`${this.#io.key}#tab:${tab}`)) {
        this.#tabs.delete(tab);
        gone = true;
      }
    }
    if (gone) this.#changed();
  }
}

/**
 * Whether id `a` comes after id `b` ("" comes before every id). Ids are
 * `<ms>-<seq>` or `<ms>-<seq>-<isolate>`; one that does not parse is only
 * told apart by being different.
 * @param {string} a
 * @param {string} b
 * @returns {boolean}
 */
function isAfter(a, b) {
  if (b === "") return a !== "";
  const left = parseId(a);
  const right = parseId(b);
  if (left === null || right === null) return a !== b;
  if (left.ms !== right.ms) return left.ms > right.ms;
  if (left.seq !== right.seq) return left.seq > right.seq;
  return left.node > right.node;
}

/**
 * @param {string} text
 * @returns {{ms: number, seq: number, node: string} | null}
 */
function parseId(text) {
  const match = /^(\d{1,16})-(\d{1,16})(?:-([a-z0-9]{1,16}))?$/.exec(text);
  if (match === null) return null;
  return { ms: Number(match[1]), seq: Number(match[2]), node: match[3] ?? "" };
}

/**
 * Whether a `system` event is the welcome (a drain or a failed replay says
 * its `reason`).
 * @param {string} raw
 * @returns {boolean}
 */
function isWelcome(raw) {
  try {
    return JSON.parse(raw)?.reason === undefined;
  } catch {
    return false;
  }
}

/**
 * A tab's `tab` message, checked: only names herald allows.
 * @param {any} message
 * @returns {TabState}
 */
function readState(message) {
  return {
    topics: names(message.topics),
    names: names(message.names).filter((n) => n !== "open" && n !== "error"),
    last: typeof message.last === "string" ? message.last : "",
  };
}

/**
 * @param {unknown} value
 * @returns {string[]}
 */
function names(value) {
  return Array.isArray(value)
    ? value.filter((item) =>
      typeof item === "string" && NAME_PATTERN.test(item)
    )
    : [];
}

/** @returns {string} */
function randomId() {
  return globalThis.crypto?.randomUUID?.().slice(0, 8) ??
    Math.random().toString(36).slice(2, 10);
}

/**
 * @param {number} retryMs
 * @returns {import("./herald.js").StatusDetail}
 */
function freshDetail(retryMs) {
  return {
    retryMs,
    reconnectAt: null,
    attempt: 0,
    error: null,
    httpStatus: null,
    retryAfter: null,
    byUser: false,
  };
}
