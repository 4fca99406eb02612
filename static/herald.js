/**
 * @module herald.js: the browser client for a herald hub. Plain JavaScript, no
 * dependencies, no build step; import it straight from the hub:
 *
 * ```js
 * import { connect, publish } from "https://hub.example/static/herald.js";
 * const hub = connect({ topics: ["chat"] }); // this hub's /events
 * hub.on("chat", ({ data, id }) => console.log(id, data.message));
 * await publish({ message: "hello", topic: "chat" }, { token: "if needed" });
 * ```
 *
 * It wraps the browser's `EventSource` and the hub replays what was missed
 * after the last event id. What `EventSource` does not do, this module does:
 * - parse each event's JSON and hand it to the handlers for that event name;
 * - keep reconnecting, whatever ended the stream: a network error, the hub's
 *   drain, or a 502/503/504 from a proxy while the hub restarts (a browser
 *   gives up for good on any answer that is not a stream). The first attempt
 *   waits the hub's `retry:` hint; each further one doubles the wait, up to
 *   `maxRetryMs`, with jitter, and never sooner than a `Retry-After`. Every
 *   attempt resumes with `?lastEventId=`;
 * - report the connection as `connecting`, `open`, `reconnecting` (with the
 *   time of the next attempt) or `closed`;
 * - find out why a stream was refused (a browser never says): it asks the hub
 *   and reports its `{error}`, status and `Retry-After`. Only a refusal that
 *   retrying cannot fix (a 4xx such as 400 for a bad topic) is `closed`;
 * - surface the hub's `reset` event (events were missed: refetch your state);
 * - with `shared: true`, keep one stream for every tab of the site
 *   (`./herald_shared.js`).
 */

import { SharedHeraldConnection } from "./herald_shared.js";

/** The hub's own event names: no publisher may use them. */
export const RESERVED_EVENTS = Object.freeze([
  "system",
  "update",
  "reset",
  "error",
  "open",
]);

/** The characters allowed in a topic or an event name (at most 128). */
export const NAME_PATTERN = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** The hub's own events carry no `id:`; their `lastEventId` is not theirs. */
const HUB_EVENTS = new Set(["system", "update", "reset"]);

/**
 * Where this module was served from: the hub's root (`/static/herald.js` →
 * `/`). Relative URLs passed to {@linkcode connect} and {@linkcode publish}
 * resolve against the page; no URL at all means this hub.
 */
const HUB_ROOT = new URL("../", import.meta.url);

/**
 * A connection's state:
 * - `connecting`: the first attempt is under way;
 * - `open`: the stream is live;
 * - `reconnecting`: the stream dropped or was refused for now (network
 *   error, drain, 502/503/504); the next attempt is at `detail.reconnectAt`;
 * - `closed`: the hub refused the request itself (a 4xx), or
 *   {@linkcode HeraldConnection#close} was called; nothing more will arrive
 *   until {@linkcode HeraldConnection#reconnect}.
 * @typedef {"connecting" | "open" | "reconnecting" | "closed"} HeraldStatus
 */

/**
 * What comes with a status.
 * @typedef {object} StatusDetail
 * @property {number} retryMs The reconnect delay the client expects, in ms.
 * @property {number | null} reconnectAt When `reconnecting`: the time
 *   (`Date.now()` scale) of the next automatic attempt (null while the
 *   reason for a refusal is being asked, or while an attempt is under way).
 * @property {number} attempt When `reconnecting`: how many attempts in a row
 *   failed so far (0 once open).
 * @property {string | null} error When refused or `closed` by the hub or the
 *   network: what went wrong, in words (the hub's `{error}` when it gave one).
 * @property {number | null} httpStatus When the hub (or a proxy in front of
 *   it) refused the stream: its HTTP status (503 when it is full or draining,
 *   502/504 from a proxy while the hub restarts; 401 when a token is missing,
 *   expired or refused, 403 when it does not grant a topic, with the reason
 *   in `error`).
 * @property {number | null} retryAfter When the hub sent `Retry-After`: seconds.
 * @property {boolean} byUser True when `closed` by {@linkcode HeraldConnection#close}.
 */

/**
 * One event as handlers receive it.
 * @typedef {object} HeraldEvent
 * @property {any} data The event's data, parsed as JSON (the raw text when it
 *   is not JSON). Published events hold `{message, topic, timestamp}`.
 * @property {string | null} id The event's id (null for the hub's own
 *   `system`, `update` and `reset` events, which carry none).
 * @property {string} event The event name (`chat`, `system`, ...).
 * @property {string} raw The data as it arrived.
 */

/**
 * A handler for one event name.
 * @callback HeraldHandler
 * @param {HeraldEvent} event
 * @returns {void}
 */

/**
 * Options of {@linkcode connect}.
 * @typedef {object} ConnectOptions
 * @property {string[]} [topics] Topics to follow. Default: the `topic`
 *   parameters already in the URL, else the hub's default (`chat`).
 * @property {string} [lastEventId] Resume after this id: the hub replays what
 *   came after it (or sends `reset` when it no longer has it).
 * @property {number} [retryMs] The hub's RETRY_MS, for the countdown.
 *   Default: 5000, or what the hub's welcome says.
 * @property {boolean} [withCredentials] Send cookies cross-origin. Default: false.
 * @property {number} [maxRetryMs] The longest wait between two attempts.
 *   Default: 30000.
 * @property {boolean} [diagnose] When the browser refuses a stream, ask the
 *   hub why (its status and `{error}`), and stop retrying when it is a 4xx.
 *   Default: true; false retries every refusal.
 * @property {(status: HeraldStatus, detail: StatusDetail) => void} [onStatus]
 *   Called on every change of status (and again when the reason for `closed`
 *   is known); the first call (`connecting`) comes before `connect()` returns.
 * @property {(data: any, event: HeraldEvent) => void} [onReset] Called when the
 *   hub says events were missed (`data.reason`: `unknown-id` or
 *   `history-exceeded`): refetch whatever state the events build up.
 * @property {boolean} [shared] Share one stream with every tab of this site
 *   that connects to the same hub URL (see `./herald_shared.js`): one tab
 *   holds it and relays each tab the events of its own topics. Falls back to
 *   a stream per tab where Web Locks or BroadcastChannel is missing.
 *   Default: false.
 * @property {(sharing: import("./herald_shared.js").SharingInfo) => void} [onSharing]
 *   With `shared`: called when this tab takes or hands over the stream, or the
 *   number of tabs sharing it changes.
 */

/**
 * An error answered by the hub.
 */
export class HeraldError extends Error {
  /**
   * @param {string} message The hub's `{error}`, or words for what failed.
   * @param {{status?: number, retryAfter?: number | null, cause?: unknown}} [options]
   */
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "HeraldError";
    /** The HTTP status (0 when the hub could not be reached). */
    this.status = options.status ?? 0;
    /** Seconds from the hub's `Retry-After`, when it sent one. */
    this.retryAfter = options.retryAfter ?? null;
  }
}

/**
 * A live subscription to a hub; made by {@linkcode connect}.
 */
export class HeraldConnection {
  /** @type {URL} */
  #baseUrl;
  /** @type {ConnectOptions} */
  #options;
  /** @type {EventSource | null} */
  #source = null;
  /** @type {HeraldStatus} */
  #status = "connecting";
  /** @type {StatusDetail} */
  #detail;
  /** @type {string} */
  #lastEventId;
  /** @type {Map<string, Set<HeraldHandler>>} */
  #handlers = new Map();
  /** @type {Map<string, (e: MessageEvent) => void>} */
  #listeners = new Map();
  /** @type {AbortController | null} */
  #diagnosis = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #timer = null;
  /** Attempts that failed in a row since the stream was last open. */
  #failures = 0;

  /**
   * @param {string | URL} url The hub's `/events` URL.
   * @param {ConnectOptions} options
   */
  constructor(url, options) {
    this.#options = options;
    this.#lastEventId = options.lastEventId ?? "";
    const base = new URL(url, globalThis.location?.href ?? HUB_ROOT);
    if (options.topics !== undefined) {
      base.searchParams.delete("topic");
      for (const topic of options.topics) {
        if (!NAME_PATTERN.test(topic)) {
          throw new TypeError(
            `Cannot connect: "${topic}" is not a topic (letters, digits, -_.:/ and at most 128 characters)`,
          );
        }
        base.searchParams.append("topic", topic);
      }
    }
    base.searchParams.delete("lastEventId");
    base.searchParams.delete("last_event_id");
    this.#baseUrl = base;
    this.#detail = freshDetail(options.retryMs ?? 5000);
    // Always listened to: they keep the status, the retry and the id current.
    for (const name of ["system", "update", "reset", "chat", "message"]) {
      this.#handlers.set(name, new Set());
    }
    this.#open("connecting");
  }

  /** The current status. @returns {HeraldStatus} */
  get status() {
    return this.#status;
  }

  /** Details of the current status (retry delay, next attempt, error). @returns {StatusDetail} */
  get detail() {
    return { ...this.#detail };
  }

  /**
   * The id of the last event received ("" before any), as sent back on a
   * reconnect. It follows events this connection listens to; the hub's
   * periodic `update` carries the browser's own last id, so it catches up.
   * @returns {string}
   */
  get lastEventId() {
    return this.#lastEventId;
  }

  /** The reconnect delay the client expects, in ms. @returns {number} */
  get retryMs() {
    return this.#detail.retryMs;
  }

  /** The topics this connection follows (empty: the hub's default). @returns {string[]} */
  get topics() {
    return this.#baseUrl.searchParams.getAll("topic");
  }

  /** The URL of the current (or last) stream. @returns {string} */
  get url() {
    return this.#source?.url ?? this.#streamUrl();
  }

  /**
   * Calls `handler` for every event named `event` (`chat`, `system`,
   * `update`, `reset`, or a publisher's own name), with its data parsed.
   * @param {string} event The event name.
   * @param {HeraldHandler} handler
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
      if (this.#source !== null) this.#listen(this.#source, event);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Opens a new stream now, resuming after {@linkcode lastEventId} (sent as
   * `?lastEventId=`). Use it after `closed`, or to skip a reconnect countdown.
   */
  reconnect() {
    this.#teardown();
    this.#failures = 0;
    this.#open("connecting");
  }

  /** Closes the stream for good (until {@linkcode reconnect}). */
  close() {
    this.#teardown();
    if (this.#status === "closed" && this.#detail.byUser) return;
    this.#setStatus("closed", { error: null, byUser: true });
  }

  #streamUrl() {
    const url = new URL(this.#baseUrl);
    if (this.#lastEventId !== "") {
      url.searchParams.set("lastEventId", this.#lastEventId);
    }
    return url.href;
  }

  /** @param {HeraldStatus | null} status The status to report; null keeps it. */
  #open(status) {
    const source = new EventSource(this.#streamUrl(), {
      withCredentials: this.#options.withCredentials ?? false,
    });
    this.#source = source;
    for (const name of this.#handlers.keys()) this.#listen(source, name);
    source.addEventListener("open", () => {
      if (this.#source !== source) return;
      this.#failures = 0;
      this.#setStatus("open", {});
    });
    source.addEventListener("error", () => this.#onError(source));
    if (status !== null) this.#setStatus(status, {});
  }

  /**
   * @param {EventSource} source
   * @param {string} name
   */
  #listen(source, name) {
    let listener = this.#listeners.get(name);
    if (listener === undefined) {
      listener = (e) => this.#dispatch(name, e);
      this.#listeners.set(name, listener);
    }
    source.addEventListener(name, /** @type {EventListener} */ (listener));
  }

  /**
   * @param {string} name
   * @param {MessageEvent} e
   */
  #dispatch(name, e) {
    if (e.target !== this.#source) return;
    if (e.lastEventId !== "") this.#lastEventId = e.lastEventId;
    const raw = typeof e.data === "string" ? e.data : String(e.data);
    /** @type {any} */
    let data = raw;
    try {
      data = JSON.parse(raw);
    } catch {
      // Not JSON: handlers get the text.
    }
    /** @type {HeraldEvent} */
    const event = {
      data,
      id: HUB_EVENTS.has(name) ? null : e.lastEventId,
      event: name,
      raw,
    };
    if (name === "system" && typeof data?.retry === "number") {
      this.#detail.retryMs = data.retry;
    }
    if (name === "reset") this.#options.onReset?.(data, event);
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(event);
      } catch (error) {
        // One failing handler must not stop the others, nor the stream.
        reportError(error);
      }
    }
  }

  /** @param {EventSource} source */
  #onError(source) {
    if (this.#source !== source) return;
    // herald.js makes every attempt itself, so that each one resumes with
    // ?lastEventId= and a refusal (which the browser never retries) is retried.
    const refused = source.readyState === EventSource.CLOSED;
    this.#source = null;
    source.close();
    this.#failures++;
    if (!refused) {
      // A network error or the end of the stream (a drain): the hub's hint.
      this.#schedule(0, {});
      return;
    }
    // The hub or a proxy answered something other than a stream. Ask why.
    if (this.#options.diagnose ?? true) {
      this.#setStatus("reconnecting", {
        error: "The hub refused the stream",
        attempt: this.#failures,
      });
      void this.#diagnose();
    } else {
      this.#schedule(0, { error: "The hub refused the stream" });
    }
  }

  /**
   * The wait before the next attempt: the hub's hint first, then doubling
   * (up to `maxRetryMs`) with jitter, so clients do not return in step.
   * @returns {number}
   */
  #backoff() {
    const hint = this.#detail.retryMs;
    if (this.#failures <= 1) return hint;
    const cap = Math.max(hint, this.#options.maxRetryMs ?? 30_000);
    const ceiling = Math.min(cap, hint * 2 ** (this.#failures - 1));
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  }

  /**
   * Reports `reconnecting` and opens a new stream after the backoff (or
   * `atLeastMs`, a `Retry-After`, when longer).
   * @param {number} atLeastMs
   * @param {Partial<StatusDetail>} detail
   */
  #schedule(atLeastMs, detail) {
    const delay = Math.max(this.#backoff(), atLeastMs);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#open(null);
    }, delay);
    this.#setStatus("reconnecting", {
      ...detail,
      reconnectAt: Date.now() + delay,
      attempt: this.#failures,
    });
  }

  async #diagnose() {
    const controller = new AbortController();
    this.#diagnosis = controller;
    const timer = setTimeout(() => controller.abort(), 10_000);
    /** @type {Partial<StatusDetail>} */
    let detail = { error: "The hub cannot be reached" };
    let retry = true;
    try {
      const res = await fetch(this.#streamUrl(), {
        headers: { Accept: "text/event-stream" },
        credentials: this.#options.withCredentials ? "include" : "same-origin",
        signal: controller.signal,
      });
      if (res.ok) {
        // The hub accepts streams again: drop this one, try again.
        await res.body?.cancel();
        detail = {
          error: "The stream was refused, but the hub accepts streams again",
        };
      } else {
        const error = await readError(res);
        detail = {
          error: error.message,
          httpStatus: error.status,
          retryAfter: error.retryAfter,
        };
        retry = isRetryable(error.status);
      }
    } catch {
      if (controller.signal.aborted && this.#diagnosis !== controller) return;
    } finally {
      clearTimeout(timer);
      if (this.#diagnosis === controller) this.#diagnosis = null;
    }
    // Torn down (close or reconnect) meanwhile: nothing to report.
    if (this.#source !== null || this.#timer !== null) return;
    if (this.#status !== "reconnecting") return;
    if (retry) {
      this.#schedule((detail.retryAfter ?? 0) * 1000, detail);
    } else {
      this.#setStatus("closed", detail);
    }
  }

  #teardown() {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#diagnosis?.abort();
    this.#diagnosis = null;
    const source = this.#source;
    this.#source = null;
    source?.close();
  }

  /**
   * @param {HeraldStatus} status
   * @param {Partial<StatusDetail>} detail
   */
  #setStatus(status, detail) {
    this.#status = status;
    this.#detail = { ...freshDetail(this.#detail.retryMs), ...detail };
    this.#options.onStatus?.(status, { ...this.#detail });
  }
}

/**
 * Subscribes to a hub's event stream.
 *
 * @example Follow two topics
 * ```js
 * const hub = connect("https://hub.example/events", {
 *   topics: ["chat", "news"],
 *   onStatus(status, { reconnectAt }) { console.log(status, reconnectAt) },
 *   onReset() { reloadEverything() },
 * });
 * hub.on("chat", ({ data }) => show(data.message));
 * ```
 *
 * @param {string | URL | ConnectOptions} [url] The hub's `/events` URL
 *   (relative URLs resolve against the page). Default: the `/events` of the
 *   hub that served this module; `connect({ topics })` means the same.
 * @param {ConnectOptions} [options]
 * @returns {HeraldConnection | SharedHeraldConnection} A
 *   {@linkcode SharedHeraldConnection} when `options.shared`.
 */
export function connect(url, options = {}) {
  if (typeof url === "object" && !(url instanceof URL)) {
    return connect(undefined, url);
  }
  const hub = url ?? new URL("events", HUB_ROOT);
  if (options.shared) return connectShared(hub, options);
  return new HeraldConnection(hub, options);
}

/**
 * {@linkcode connect} with `shared`: one stream for every tab of this site.
 * @param {string | URL} url
 * @param {ConnectOptions} options
 * @returns {SharedHeraldConnection}
 */
function connectShared(url, options) {
  return new SharedHeraldConnection(
    new URL(url, globalThis.location?.href ?? HUB_ROOT),
    options,
  );
}

export { SharedHeraldConnection };

/**
 * A message to publish.
 * @typedef {object} PublishMessage
 * @property {string} message The text (any Unicode, newlines included).
 * @property {string} [topic] Default: the hub's default (`chat`).
 * @property {string} [event] The event name subscribers see. Default: `chat`.
 * @property {boolean} [private] Only streams whose token grants the topic
 *   receive it (the hub needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL).
 */

/**
 * Options of {@linkcode publish}.
 * @typedef {object} PublishOptions
 * @property {string} [token] The hub's PUBLISH_TOKEN, sent as a Bearer token.
 * @property {AbortSignal} [signal] Aborts the request.
 */

/**
 * Publishes a message through a hub's `POST /message`.
 *
 * @example Publish, and show the hub's refusal
 * ```js
 * try {
 *   const { id } = await publish("https://hub.example", { message: "hi" });
 * } catch (error) {
 *   alert(`${error.status}: ${error.message}`); // e.g. 401: Cannot publish: ...
 * }
 * ```
 *
 * @param {string | URL | null | undefined | PublishMessage} baseUrl The
 *   hub's root URL (`https://hub.example` or `/`). Empty: the hub that served
 *   this module; `publish({ message }, { token })` means the same.
 * @param {PublishMessage | PublishOptions} [message]
 * @param {PublishOptions} [options]
 * @returns {Promise<{id: string, topic: string}>} The hub's answer.
 * @throws {HeraldError} With the hub's `{error}` and `.status` when it
 *   refuses (400, 401, 413, 415, ...), or `.status` 0 when it is unreachable.
 */
export async function publish(baseUrl, message, options = {}) {
  if (
    typeof baseUrl === "object" && baseUrl !== null &&
    !(baseUrl instanceof URL)
  ) {
    return await publish(
      undefined,
      baseUrl,
      /** @type {PublishOptions | undefined} */ (message),
    );
  }
  const { message: text, topic, event, private: isPrivate } =
    /** @type {PublishMessage} */ (message ?? {});
  const root = baseUrl === undefined || baseUrl === null || baseUrl === ""
    ? HUB_ROOT
    : new URL(baseUrl, globalThis.location?.href ?? HUB_ROOT);
  const url = new URL("message", root.href.endsWith("/") ? root : root + "/");
  /** @type {Record<string, string | boolean>} */
  const body = { message: text };
  if (topic) body.topic = topic;
  if (event) body.event = event;
  if (isPrivate === true) body.private = true;
  /** @type {Record<string, string>} */
  const headers = { "Content-Type": "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let res;
  try {
    res = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new HeraldError(
      `Cannot publish: the hub at ${url.origin} cannot be reached`,
      {
        cause,
      },
    );
  }
  if (!res.ok) throw await readError(res);
  return await res.json();
}

/**
 * Turns a refusal into a {@linkcode HeraldError} with the hub's `{error}`.
 * @param {Response} res
 * @returns {Promise<HeraldError>}
 */
async function readError(res) {
  let message = `The hub answered ${res.status} ${res.statusText}`.trim();
  try {
    const json = await res.json();
    if (typeof json?.error === "string" && json.error !== "") {
      message = json.error;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  const header = res.headers.get("Retry-After");
  const seconds = header === null ? NaN : Number(header);
  return new HeraldError(message, {
    status: res.status,
    retryAfter: Number.isFinite(seconds) ? seconds : null,
  });
}

/**
 * Whether a refusal may pass by itself: a timeout, too many requests, or any
 * 5xx (502/503/504 from a proxy while the hub restarts, 503 when it is full
 * or draining). Any other 4xx means the request itself is wrong.
 * @param {number} status
 * @returns {boolean}
 */
function isRetryable(status) {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * @param {number} retryMs
 * @returns {StatusDetail}
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
