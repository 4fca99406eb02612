/**
 * @module Helpers for the browser tests: headless Chromium (from apt, never
 * downloaded) driven by playwright-core, a real herald server in a
 * subprocess, and a TCP proxy that can cut a page's connections while the
 * server stays up.
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/**
 * The little of the DOM that the tests' in-page callbacks touch. Declared
 * here instead of `/// <reference lib="dom" />`, which would put the DOM
 * types into every file of `deno check .` (its TextDecoderStream clashes
 * with Deno's).
 */
export interface PageElement {
  /** The element's id. */
  readonly id: string;
  /** The element's class attribute. */
  readonly className: string;
  /** The element's text. */
  readonly textContent: string | null;
  /** Its `data-*` attributes. */
  readonly dataset: Record<string, string | undefined>;
  /** The first descendant matching `selector`. */
  querySelector(selector: string): PageElement | null;
}

/** The page's `document`, as far as the tests use it. */
export interface PageDocument {
  /** The focused element. */
  readonly activeElement: PageElement | null;
  /** The root element's scroll box. */
  readonly documentElement: {
    readonly scrollWidth: number;
    readonly clientWidth: number;
  };
  /** The element with that id. */
  getElementById(id: string): PageElement | null;
  /** Every element matching `selector`. */
  querySelectorAll(selector: string): Iterable<PageElement>;
}

declare const document: PageDocument;

/** Where `apt-get install -y chromium` puts the browser. */
export const CHROMIUM_PATH = Deno.env.get("CHROMIUM_PATH") ??
  "/usr/bin/chromium";

/** Flags for a quiet, offline, headless Chromium. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const;

/** Every wait in the browser tests gives up after this long. */
export const WAIT_MS = 10_000;

/** A browser with a fresh profile; `close()` removes the profile too. */
export interface TestBrowser {
  /** The browser context every page of the test shares. */
  readonly context: BrowserContext;
  /** Opens a page with {@linkcode WAIT_MS} as its default timeout and error tracking. */
  newPage(options?: { width?: number; height?: number }): Promise<TestPage>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** A page plus what went wrong on it. */
export interface TestPage {
  /** The Playwright page. */
  readonly page: Page;
  /** Uncaught errors, console errors (CSP violations among them) and dialogs. */
  readonly problems: string[];
}

/** Options for {@linkcode launchBrowser}. */
export interface LaunchBrowserOptions {
  /** Accept any certificate (a test's self-signed one). @default {false} */
  ignoreHTTPSErrors?: boolean;
}

/** Launches headless Chromium with a fresh temporary profile. */
export async function launchBrowser(
  options: LaunchBrowserOptions = {},
): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "herald_chromium_" });
  let context: BrowserContext;
  try {
    // Playwright refuses --user-data-dir in args; this is the same thing.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1200, height: 800 },
      timeout: WAIT_MS,
      ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true });
    throw error;
  }
  context.setDefaultTimeout(WAIT_MS);
  const blank = context.pages();
  return {
    context,
    async newPage(options = {}) {
      const page = blank.pop() ?? await context.newPage();
      if (options.width !== undefined) {
        await page.setViewportSize({
          width: options.width,
          height: options.height ?? 800,
        });
      }
      const problems: string[] = [];
      page.on(
        "pageerror",
        (error) => problems.push(`pageerror: ${error.message}`),
      );
      page.on("console", (message) => {
        if (
          message.type() === "error" && !isExpectedNetworkError(message.text())
        ) {
          problems.push(`console: ${message.text()}`);
        }
      });
      page.on("dialog", (dialog) => {
        problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
        void dialog.dismiss();
      });
      return { page, problems };
    },
    async close() {
      try {
        await context.close();
      } finally {
        await Deno.remove(profile, { recursive: true });
      }
    },
  };
}

/** Console errors Chromium logs for failed requests the test causes on purpose. */
function isExpectedNetworkError(text: string): boolean {
  return /Failed to load resource|net::ERR_|EventSource's response has|127\.0\.0\.1:9\/message/
    .test(text);
}

/** A port free right now on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** The port; default: a free one. */
  port?: number;
  /** Run `deno serve --parallel` with DENO_JOBS=2. @default {false} */
  parallel?: boolean;
  /** Extra environment (UPDATE_INTERVAL_MS, RETRY_MS, PUBLISH_TOKEN, ...). */
  env?: Record<string, string>;
}

/** A herald server in a subprocess. */
export interface TestServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** POSTs a message (with the PUBLISH_TOKEN of `env`, if any); returns the hub's answer. */
  publish(
    message: string,
    options?: { topic?: string; event?: string },
  ): Promise<{ id: string; topic: string }>;
  /** SIGTERM, then SIGKILL if it lingers; resolves when the process is gone. */
  stop(): Promise<void>;
}

/** Starts main.ts under `deno serve` on 127.0.0.1 and waits until it answers. */
export async function startServer(
  options: ServerOptions = {},
): Promise<TestServer> {
  const port = options.port ?? freePort();
  const env = {
    UPDATE_INTERVAL_MS: "500",
    HEARTBEAT_MS: "5000",
    RETRY_MS: "300",
    ...options.env,
    ...(options.parallel ? { DENO_JOBS: "2" } : {}),
  };
  const root = new URL("../", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      ...(options.parallel ? ["--parallel"] : []),
      "--allow-net",
      "--allow-env",
      "--allow-read=.",
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "main.ts",
    ],
    cwd: root,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const url = `http://127.0.0.1:${port}/`;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  async function stop(): Promise<void> {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 5000);
      await status;
      clearTimeout(timer);
    }
    await stderr;
  }

  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(
        `Cannot start herald: it exited with ${
          (await status).code
        }: ${await stderr}`,
      );
    }
    try {
      const res = await fetch(`${url}stats`, {
        signal: AbortSignal.timeout(1000),
      });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `Cannot start herald: no answer on ${url} within ${WAIT_MS} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const token = options.env?.PUBLISH_TOKEN;
  return {
    url,
    port,
    async publish(message, { topic, event } = {}) {
      const res = await fetch(`${url}message`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ message, topic, event }),
        signal: AbortSignal.timeout(WAIT_MS),
      });
      const body = await res.json();
      if (res.status !== 202) {
        throw new Error(
          `Cannot publish: ${res.status} ${JSON.stringify(body)}`,
        );
      }
      return body;
    },
    stop,
  };
}

/**
 * A TCP proxy in front of a server: the browser talks to it, and the test
 * can cut every connection (and refuse new ones) while the server stays up.
 */
export class TcpProxy {
  #listener: Deno.TcpListener;
  #target: number;
  #pairs = new Set<{ client: Deno.Conn; upstream: Deno.Conn }>();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;
  /** While true, new connections are closed at once (the browser sees a network error). */
  refusing = false;

  /** Listens on a free port of 127.0.0.1 and forwards to `targetPort`. */
  constructor(targetPort: number) {
    this.#target = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** `http://127.0.0.1:<proxy port>/` */
  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}/`;
  }

  /** Connections open through the proxy. */
  get size(): number {
    return this.#pairs.size;
  }

  /** Closes every connection open through the proxy. */
  cut(): void {
    for (const pair of this.#pairs) closeQuietly(pair.client, pair.upstream);
  }

  /** Stops listening, cuts everything and waits for every pump to end. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    this.cut();
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.refusing) {
          closeQuietly(client);
          continue;
        }
        const task = this.#forward(client);
        this.#tasks.add(task);
        void task.finally(() => this.#tasks.delete(task));
      }
    } catch {
      // Listener closed.
    }
  }

  async #forward(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#target,
      });
    } catch {
      closeQuietly(client);
      return;
    }
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const a = pump(client, upstream);
    const b = pump(upstream, client);
    await Promise.race([a, b]);
    closeQuietly(client, upstream);
    await Promise.allSettled([a, b]);
    this.#pairs.delete(pair);
  }
}

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) {
        written += await to.write(buffer.subarray(written, n));
      }
    }
  } catch {
    // Closed by the other side or by cut().
  }
}

function closeQuietly(...conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** One file of a {@linkcode serveSite} site. */
export interface SiteFile {
  /** Its Content-Type. */
  type: string;
  /** Its text. */
  body: string;
}

/** A site on a loopback origin of its own, for pages that use herald from elsewhere. */
export interface TestSite extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** Stops serving; resolves when the server is closed. */
  close(): Promise<void>;
}

/**
 * Serves `files` (keyed by path, such as `/` or `/htmx.js`) on a free port of
 * 127.0.0.1: another origin than herald's. Any other path answers 404.
 */
export function serveSite(files: Record<string, SiteFile>): TestSite {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const file = Object.hasOwn(files, path) ? files[path] : undefined;
      return file === undefined
        ? new Response("Not found", { status: 404 })
        : new Response(file.body, { headers: { "Content-Type": file.type } });
    },
  );
  const close = () => server.shutdown();
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Waits until the page's message list holds exactly `count` items whose text
 * is `text` (and fails if more show up), then returns their ids.
 */
export async function waitForText(
  page: Page,
  text: string,
  count = 1,
  options: { type?: string } = {},
): Promise<string[]> {
  await page.waitForFunction(
    ({ text, count, type }) => {
      const items = [
        ...document.querySelectorAll("#messages > li"),
      ]
        .filter((li) =>
          li.querySelector(".text")?.textContent === text &&
          (type === undefined || li.dataset.type === type)
        );
      return items.length >= count;
    },
    { text, count, type: options.type },
    { timeout: WAIT_MS, polling: 50 },
  );
  return await itemIds(page, text);
}

/** The ids of the list items whose text is `text`, in list order. */
export async function itemIds(page: Page, text: string): Promise<string[]> {
  return await page.evaluate(
    (text) =>
      [...document.querySelectorAll("#messages > li")]
        .filter((li) => li.querySelector(".text")?.textContent === text)
        .map((li) => li.dataset.id ?? ""),
    text,
  );
}

/** Waits for the page's connection status (`open`, `reconnecting`, ...). */
export async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.locator(`#status[data-status="${status}"]`).waitFor({
    timeout: WAIT_MS,
  });
}

/** Waits until the hub's /stats counts `clients` streams. */
export async function waitForClients(
  server: TestServer,
  clients: number,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const stats = await (await fetch(`${server.url}stats`, {
      signal: AbortSignal.timeout(WAIT_MS),
    })).json();
    if (stats.clients === clients) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot see ${clients} clients: /stats says ${stats.clients}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
