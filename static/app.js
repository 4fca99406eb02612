/**
 * @module The page at `/`: a live view of the hub built on `./herald.js`.
 *
 * Everything the hub or a publisher sends is inserted with `textContent`,
 * never as HTML, and the page has no inline script or handler, so it runs
 * under a strict Content-Security-Policy.
 */

import { connect, NAME_PATTERN, publish } from "./herald.js";

/** Items kept in the list; older ones are dropped. */
const MAX_ITEMS = 500;

/**
 * `update` ticks go to the header's count; they are logged in the list only
 * when the page is opened with `?ticks`, so hours of them never push the
 * messages out.
 */
const LOG_TICKS = new URLSearchParams(location.search).has("ticks");

const els = {
  status: byId("status"),
  statusText: byId("status-text"),
  announcer: byId("status-announcer"),
  clientCount: byId("client-count"),
  clientLabel: byId("client-label"),
  topicsForm: /** @type {HTMLFormElement} */ (byId("topics-form")),
  topics: /** @type {HTMLInputElement} */ (byId("topics")),
  topicsError: byId("topics-error"),
  connect: /** @type {HTMLButtonElement} */ (byId("connect")),
  disconnect: /** @type {HTMLButtonElement} */ (byId("disconnect")),
  problem: byId("problem"),
  problemText: byId("problem-text"),
  retry: /** @type {HTMLButtonElement} */ (byId("retry")),
  factTopics: byId("fact-topics"),
  factLastId: byId("fact-last-id"),
  factSharing: byId("fact-sharing"),
  messages: /** @type {HTMLOListElement} */ (byId("messages")),
  empty: byId("empty"),
  clear: byId("clear"),
  sendForm: /** @type {HTMLFormElement} */ (byId("send-form")),
  message: /** @type {HTMLTextAreaElement} */ (byId("message")),
  sendTopic: /** @type {HTMLInputElement} */ (byId("send-topic")),
  sendEvent: /** @type {HTMLInputElement} */ (byId("send-event")),
  token: /** @type {HTMLInputElement} */ (byId("token")),
  send: /** @type {HTMLButtonElement} */ (byId("send")),
  sendStatus: byId("send-status"),
  subscribedTopics: byId("subscribed-topics"),
  moduleUrl: byId("module-url"),
};

const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** @type {import("./herald.js").HeraldConnection | import("./herald.js").SharedHeraldConnection | null} */
let connection = null;
/** Identifies the current connection; callbacks of older ones are ignored. */
let generation = 0;
/** Event names beyond `chat` that the page shows (those the user sent). */
const extraEvents = new Set();
/** @type {ReturnType<typeof setInterval> | null} */
let countdownTimer = null;
/** @type {import("./herald.js").HeraldStatus | null} */
let shownStatus = null;

/** What the screen reader hears when the status changes (not every tick). */
const ANNOUNCEMENTS = {
  connecting: "Connecting",
  open: "Connected",
  reconnecting: "Connection lost. Reconnecting.",
  closed: "Disconnected",
};

start();

function start() {
  els.moduleUrl.textContent = new URL("static/herald.js", location.href).href;
  els.topicsForm.addEventListener("submit", onConnectSubmit);
  els.topics.addEventListener("input", updateButtons);
  els.disconnect.addEventListener("click", onDisconnect);
  els.retry.addEventListener("click", onRetry);
  els.clear.addEventListener("click", clearMessages);
  els.sendForm.addEventListener("submit", onSend);
  els.message.addEventListener("keydown", onMessageKeydown);
  const topics = readTopics(
    new URLSearchParams(location.search).getAll("topic").join(","),
  );
  if (topics !== null && topics.length > 0) {
    els.topics.value = topics.join(", ");
  }
  openConnection(readTopics(els.topics.value) ?? ["chat"]);
}

/**
 * Replaces the connection with one following `topics`.
 * @param {string[]} topics
 */
function openConnection(topics) {
  const mine = ++generation;
  connection?.close();
  connection = connect("events", {
    topics,
    // One stream for all of this hub's tabs in this browser.
    shared: true,
    onSharing(sharing) {
      if (mine === generation) renderSharing(sharing);
    },
    onStatus(status, detail) {
      if (mine === generation) renderStatus(status, detail);
    },
    onReset(data) {
      if (mine !== generation) return;
      addItem({
        type: "reset",
        label: "missed",
        text: data?.reason === "history-exceeded"
          ? "Messages may be missing here: the hub no longer keeps events that far back."
          : "Messages may be missing here: the hub does not know where this page left off (it may have restarted).",
        timestamp: Date.now(),
      });
    },
  });
  connection.on("system", ({ data, raw }) => {
    addItem({
      type: "system",
      label: "system",
      text: typeof data?.message === "string" ? data.message : raw,
      timestamp: data?.timestamp,
    });
  });
  connection.on("update", ({ data }) => {
    showLastId();
    if (typeof data?.clients === "number") showClients(data.clients);
    if (LOG_TICKS) addUpdate(data);
  });
  connection.on("reset", showLastId);
  connection.on("chat", showPublished);
  connection.on("message", showPublished);
  for (const name of extraEvents) connection.on(name, showPublished);
  els.factTopics.textContent = topics.join(", ");
  els.subscribedTopics.replaceChildren(
    ...topics.map((topic) => new Option(topic)),
  );
  if (!topics.includes(els.sendTopic.value.trim())) {
    els.sendTopic.value = topics[0] ?? "chat";
  }
  updateButtons();
}

/** @param {import("./herald.js").HeraldEvent} event */
function showPublished({ data, raw, id, event }) {
  const isMessage = data !== null && typeof data === "object" &&
    typeof data.message === "string";
  addItem({
    type: event === "chat" || event === "message" ? "chat" : "custom",
    label: event,
    text: isMessage ? data.message : raw,
    timestamp: data?.timestamp,
    topic: typeof data?.topic === "string" ? data.topic : undefined,
    id: id ?? undefined,
  });
  showLastId();
}

/**
 * Says which tab holds the stream.
 * @param {import("./herald_shared.js").SharingInfo} sharing
 */
function renderSharing({ role, tab, leader, tabs }) {
  const share = tabs > 1 ? ` · ${tabs} tabs share it` : "";
  els.factSharing.dataset.role = role;
  els.factSharing.dataset.tab = tab;
  els.factSharing.dataset.leader = leader ?? "";
  els.factSharing.textContent = role === "leader"
    ? `This tab (${tab})${share}`
    : role === "alone"
    ? `This tab (${tab}), alone: this browser cannot share it`
    : leader === null
    ? "Looking for the tab that holds it…"
    : `Tab ${leader}${share}`;
}

function showLastId() {
  els.factLastId.textContent = connection?.lastEventId || "none yet";
}

/**
 * @param {import("./herald.js").HeraldStatus} status
 * @param {import("./herald.js").StatusDetail} detail
 */
function renderStatus(status, detail) {
  const changed = status !== shownStatus;
  shownStatus = status;
  els.status.dataset.status = status;
  stopCountdown();
  if (status === "connecting") {
    els.statusText.textContent = "Connecting…";
  } else if (status === "open") {
    els.statusText.textContent = "Connected";
    hideProblem();
    void refreshClients();
  } else if (status === "reconnecting") {
    startCountdown(detail.reconnectAt, detail.httpStatus === 503);
    // A refusal (a proxy's 502 while the hub restarts, a full hub's 503) is
    // said in words, with the time of the next attempt and a button to try now.
    if (detail.error !== null) {
      showProblem(describeRefused(detail));
    } else {
      hideProblem();
    }
    if (changed) {
      addItem({
        type: "error",
        label: "connection",
        text: "The connection to the hub was lost. Reconnecting…",
        timestamp: Date.now(),
      });
    }
  } else if (detail.byUser) {
    els.statusText.textContent = "Disconnected";
    hideProblem();
  } else {
    els.statusText.textContent = detail.httpStatus === 503
      ? "Hub full"
      : "Disconnected";
    showProblem(describeClosed(detail));
  }
  if (changed) els.announcer.textContent = ANNOUNCEMENTS[status];
  updateButtons();
}

/**
 * Words for a refused stream that herald.js retries by itself.
 * @param {import("./herald.js").StatusDetail} detail
 * @returns {string}
 */
function describeRefused(detail) {
  const next = detail.reconnectAt === null
    ? "Finding out why…"
    : `Trying again at ${timeFormat.format(detail.reconnectAt)}.`;
  if (detail.httpStatus === 503) {
    return `The hub is busy or restarting and turned this page away (HTTP 503: ${detail.error}). ${next}`;
  }
  if (detail.httpStatus !== null) {
    return `The hub could not be reached through its proxy (HTTP ${detail.httpStatus}: ${detail.error}). ${next}`;
  }
  return `${detail.error}. ${next}`;
}

/**
 * Words for a stream that will not be retried (the hub refused the request).
 * @param {import("./herald.js").StatusDetail} detail
 * @returns {string}
 */
function describeClosed(detail) {
  const after = detail.retryAfter !== null
    ? ` Try again in ${detail.retryAfter} s.`
    : "";
  if (detail.httpStatus === 503) {
    return `The hub is full right now and turned this page away (HTTP 503: ${detail.error}).${after}`;
  }
  if (detail.httpStatus !== null) {
    return `The hub refused the stream (HTTP ${detail.httpStatus}: ${detail.error}).${after}`;
  }
  return `The stream stopped: ${detail.error ?? "the hub closed it"}.${after}`;
}

/**
 * @param {number | null} reconnectAt
 * @param {boolean} busy The hub answered 503 (full or draining).
 */
function startCountdown(reconnectAt, busy) {
  function tick() {
    const seconds = reconnectAt === null
      ? 0
      : Math.ceil((reconnectAt - Date.now()) / 1000);
    const what = busy ? "Hub busy: reconnecting" : "Reconnecting";
    els.statusText.textContent = seconds > 0
      ? `${what} in ${seconds} s…`
      : `${what}…`;
    if (seconds <= 0) stopCountdown();
  }
  tick();
  if (reconnectAt !== null) countdownTimer = setInterval(tick, 250);
}

function stopCountdown() {
  if (countdownTimer !== null) clearInterval(countdownTimer);
  countdownTimer = null;
}

/** @param {string} text */
function showProblem(text) {
  els.problemText.textContent = text;
  els.problem.hidden = false;
}

function hideProblem() {
  els.problem.hidden = true;
  els.problemText.textContent = "";
}

function updateButtons() {
  const status = connection?.status ?? "closed";
  const wanted = readTopics(els.topics.value);
  const same = wanted !== null && connection !== null &&
    wanted.join(",") === connection.topics.join(",");
  els.connect.disabled = same && (status === "open" || status === "connecting");
  els.connect.textContent = same || status === "closed"
    ? "Connect"
    : "Switch topics";
  els.disconnect.disabled = status === "closed";
}

/** @param {SubmitEvent} event */
function onConnectSubmit(event) {
  event.preventDefault();
  const topics = readTopics(els.topics.value);
  if (topics === null || topics.length === 0) {
    els.topicsError.textContent =
      "Enter one or more topics: letters, digits and -_.:/ (at most 128 each).";
    els.topicsError.hidden = false;
    els.topics.setAttribute("aria-invalid", "true");
    els.topics.focus();
    return;
  }
  els.topicsError.hidden = true;
  els.topics.removeAttribute("aria-invalid");
  if (connection !== null && topics.join(",") === connection.topics.join(",")) {
    // Same topics: resume after the last event seen, nothing is lost.
    connection.reconnect();
  } else {
    openConnection(topics);
  }
}

function onDisconnect() {
  connection?.close();
}

function onRetry() {
  hideProblem();
  connection?.reconnect();
}

/**
 * Topics typed as "a, b c"; null when one of them is not a valid name.
 * @param {string} text
 * @returns {string[] | null}
 */
function readTopics(text) {
  const topics = [...new Set(text.split(/[\s,]+/).filter((t) => t !== ""))];
  return topics.every((t) => NAME_PATTERN.test(t)) ? topics : null;
}

/** @param {KeyboardEvent} event */
function onMessageKeydown(event) {
  if (
    event.key === "Enter" && !event.shiftKey && !event.isComposing &&
    !event.altKey
  ) {
    event.preventDefault();
    els.sendForm.requestSubmit();
  }
}

/** @param {SubmitEvent} event */
async function onSend(event) {
  event.preventDefault();
  const message = els.message.value;
  if (message.trim() === "") {
    setSendStatus("Type a message first.", "error");
    els.message.focus();
    return;
  }
  const topic = els.sendTopic.value.trim();
  const name = els.sendEvent.value.trim();
  if (name !== "" && name !== "chat" && !extraEvents.has(name)) {
    // Show events of this name too, or the sender would never see them.
    extraEvents.add(name);
    connection?.on(name, showPublished);
  }
  els.send.disabled = true;
  setSendStatus("Sending…", "busy");
  try {
    const { id } = await publish(undefined, {
      message,
      ...(topic ? { topic } : {}),
      ...(name ? { event: name } : {}),
    }, { token: els.token.value });
    setSendStatus(`Sent, id ${id}.`, "ok");
    els.message.value = "";
  } catch (error) {
    const status = /** @type {{status?: number}} */ (error).status;
    const text = error instanceof Error ? error.message : String(error);
    const hint = status === 401 ? " Enter the hub's publish token." : "";
    setSendStatus(
      `Not sent: ${text}${status ? ` (HTTP ${status})` : ""}.${hint}`,
      "error",
    );
    if (status === 401) els.token.focus();
  } finally {
    els.send.disabled = false;
    if (document.activeElement === document.body) els.message.focus();
  }
}

/**
 * @param {string} text
 * @param {"ok" | "error" | "busy"} state
 */
function setSendStatus(text, state) {
  els.sendStatus.textContent = text;
  els.sendStatus.dataset.state = state;
}

/** @param {number} clients */
function showClients(clients) {
  els.clientCount.textContent = String(clients);
  els.clientLabel.textContent = clients === 1
    ? "client online"
    : "clients online";
}

async function refreshClients() {
  try {
    const res = await fetch("stats", {
      headers: { Accept: "application/json" },
    });
    if (!res.ok) {
      await res.body?.cancel();
      return;
    }
    const stats = await res.json();
    if (typeof stats?.clients === "number") showClients(stats.clients);
  } catch {
    // The count arrives with the next update anyway.
  }
}

/**
 * @typedef {object} Item
 * @property {"system" | "update" | "chat" | "custom" | "reset" | "error"} type
 * @property {string} label
 * @property {string} text
 * @property {unknown} [timestamp]
 * @property {string | undefined} [topic]
 * @property {string | undefined} [id]
 */

/**
 * Shows an `update` event; a run of updates shares one row, so a quiet hub
 * does not fill the list (and screen readers hear the first one only).
 * @param {any} data
 */
function addUpdate(data) {
  const clients = typeof data?.clients === "number" ? data.clients : "?";
  const text = `${clients} ${clients === 1 ? "client" : "clients"} online`;
  const last = els.messages.lastElementChild;
  if (last instanceof HTMLLIElement && last.dataset.type === "update") {
    fillItem(last, {
      type: "update",
      label: "update",
      text,
      timestamp: data?.timestamp,
    });
    return;
  }
  addItem({
    type: "update",
    label: "update",
    text,
    timestamp: data?.timestamp,
  });
}

/** @param {Item} item */
function addItem(item) {
  const list = els.messages;
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const li = document.createElement("li");
  fillItem(li, item);
  list.append(li);
  while (list.childElementCount > MAX_ITEMS) list.firstElementChild?.remove();
  els.empty.hidden = true;
  if (stick) list.scrollTop = list.scrollHeight;
}

/**
 * Writes an item into a list row. Every string goes in as text.
 * @param {HTMLLIElement} li
 * @param {Item} item
 */
function fillItem(li, item) {
  li.className = `msg msg-${item.type}`;
  li.dataset.type = item.type;
  li.dataset.event = item.label;
  if (item.id) li.dataset.id = item.id;

  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = item.label;

  const text = document.createElement("p");
  text.className = "text";
  text.textContent = item.text;

  const meta = document.createElement("p");
  meta.className = "meta";
  const date = toDate(item.timestamp);
  const time = document.createElement("time");
  time.dateTime = date.toISOString();
  time.textContent = timeFormat.format(date);
  meta.append(time);
  if (item.topic) {
    const topic = document.createElement("span");
    topic.className = "topic";
    topic.textContent = `#${item.topic}`;
    meta.append(topic);
  }
  if (item.id) {
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = `id ${item.id}`;
    meta.append(id);
  }
  li.replaceChildren(badge, text, meta);
}

function clearMessages() {
  els.messages.replaceChildren();
  els.empty.hidden = false;
  els.message.focus();
}

/**
 * @param {unknown} value A timestamp in ms or an ISO string.
 * @returns {Date}
 */
function toDate(value) {
  const date = typeof value === "number" || typeof value === "string"
    ? new Date(value)
    : new Date();
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Cannot start the page: #${id} is missing`);
  return el;
}
