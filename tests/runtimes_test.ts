/**
 * One black-box suite, run against every runtime herald has an entry for
 * (runtimes/): `deno task start:bun`, `start:node` and `start:workerd` on a
 * free loopback port, then the same steps over real HTTP for each: welcome,
 * publish, topics, replay with Last-Event-ID, heartbeats past Bun's idle
 * timeout, a disconnect seen by /stats, a slow reader cut off, and the drain
 * on SIGTERM. A runtime that differs fails its row; a runtime that cannot be
 * installed fails too (runtimes/install.ts says why), it is never skipped.
 */
import assert from "node:assert/strict";
import { freePort, spawnTask, type TaskProcess } from "./_process.ts";
import { connect, writeAll } from "./_raw_http.ts";
import { eventually } from "./_server.ts";
import { dataOf, SseClient } from "./_sse_client.ts";
import { readUntil } from "./_stream_text.ts";
import { EMBEDDED_ASSETS } from "../runtimes/static_assets.ts";
import { RUNTIME_NAMES, type RuntimeName } from "../runtimes/install.ts";

/**
 * Heartbeats 5 s apart, and Bun's idle timeout at its least: Bun checks
 * idle connections every 4 s, so BUN_IDLE_TIMEOUT_S=1 closes a silent one
 * after 4 s (measured). The silence between two heartbeats outlasts that.
 */
const HEARTBEAT_MS = 5000;
/** The silence a stream must survive: more than Bun's 4 s. */
const SILENCE_MS = 4500;
const ENV = {
  HOSTNAME: "127.0.0.1",
  HEARTBEAT_MS: String(HEARTBEAT_MS),
  UPDATE_INTERVAL_MS: "0",
  RETRY_MS: "2500",
  MAX_QUEUED_BYTES: "65536",
  BUN_IDLE_TIMEOUT_S: "1",
};

interface Running extends AsyncDisposable {
  readonly url: string;
  readonly task: TaskProcess;
}

interface Stats {
  clients: number;
  localClients: number;
  isolates: number;
  dropped: number;
}

async function stats(url: string): Promise<Stats> {
  return await (await fetch(`${url}/stats`)).json();
}

async function publish(
  url: string,
  body: Record<string, unknown>,
): Promise<{ id: string; topic: string }> {
  const response = await fetch(`${url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return await response.json();
}

/** The task's exit status, or an error with its output after `timeoutMs`. */
async function exitWithin(
  task: TaskProcess,
  timeoutMs: number,
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Still running after ${timeoutMs} ms: ${task.output()}`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([task.child.status, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `deno task start:<name>` and waits until it answers /healthz (first run installs). */
async function start(
  name: RuntimeName,
  env: Record<string, string> = {},
): Promise<Running> {
  const port = freePort();
  const task = spawnTask([`start:${name}`], {
    ...ENV,
    ...env,
    PORT: String(port),
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  task.child.status.then(() => exited = true);
  try {
    await eventually(
      async () => {
        if (exited) throw new Error(`start:${name} exited: ${task.output()}`);
        try {
          const response = await fetch(`${url}/healthz`);
          await response.body?.cancel();
          return response.status === 200;
        } catch {
          return false;
        }
      },
      90_000,
      `start:${name} to answer /healthz`,
    );
  } catch (error) {
    await task[Symbol.asyncDispose]();
    throw error;
  }
  return {
    url,
    task,
    [Symbol.asyncDispose]: () => task[Symbol.asyncDispose](),
  };
}

/** A stream on a topic nobody publishes to, watched for a long silence. */
interface QuietStream {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Resolves once a heartbeat arrives after a silence of SILENCE_MS or more. */
  readonly silence: Promise<{ gapMs: number; text: string }>;
}

/** Opens /events?topic=quiet and reads it until a heartbeat ends a long silence. */
async function openQuiet(url: string): Promise<QuietStream> {
  const response = await fetch(`${url}/events?topic=quiet`);
  const reader = response.body!.getReader();
  const silence = (async () => {
    let text = "";
    let last = performance.now();
    const deadline = last + HEARTBEAT_MS * 2 + 3000;
    while (true) {
      const before = text;
      text = await readUntil(
        reader,
        (s) => s.length > before.length,
        Math.max(1, deadline - performance.now()),
        text,
      );
      const now = performance.now();
      if (now - last >= SILENCE_MS && text.endsWith(": keep-alive\n\n")) {
        return { gapMs: Math.round(now - last), text };
      }
      last = now;
    }
  })();
  // Awaited by the heartbeat step; a failure before then is not unhandled.
  silence.catch(() => {});
  return { reader, silence };
}

Deno.test("the runtimes' embedded assets are every file of static/", async () => {
  const files: string[] = [];
  for await (
    const entry of Deno.readDir(new URL("../static/", import.meta.url))
  ) {
    if (entry.isFile) files.push(entry.name);
  }
  assert.deepEqual([...EMBEDDED_ASSETS.keys()].sort(), files.sort());
  for (const name of files) {
    const onDisk = await Deno.readFile(
      new URL(`../static/${name}`, import.meta.url),
    );
    assert.deepEqual(EMBEDDED_ASSETS.get(name), onDisk, name);
  }
});

for (const name of RUNTIME_NAMES) {
  Deno.test(`${name}: the same black-box suite as every runtime`, async (t) => {
    await using herald = await start(name);
    const { url } = herald;
    // Opened first and read meanwhile, so its silence overlaps the steps.
    const quiet = await openQuiet(url);

    await t.step(
      "welcome: / and its assets, then event: system with retry",
      async () => {
        const page = await fetch(`${url}/`);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<html/i);
        const asset = await fetch(`${url}/static/app.js`);
        assert.equal(
          asset.headers.get("content-type")?.split(";")[0],
          "text/javascript",
        );
        assert.deepEqual(
          new Uint8Array(await asset.arrayBuffer()),
          EMBEDDED_ASSETS.get("app.js"),
        );
        await using client = await SseClient.open(`${url}/events?topic=a`);
        assert.equal(
          client.response.headers.get("content-type"),
          "text/event-stream; charset=utf-8",
        );
        const welcome = await client.next();
        assert.equal(welcome.event, "system");
        assert.deepEqual(dataOf(welcome).topics, ["a"]);
        assert.deepEqual(client.retries, [2500]);
      },
    );

    await t.step(
      "publish: 202 {id, topic}, and the event arrives with that id",
      async () => {
        await using client = await SseClient.open(`${url}/events?topic=a`);
        await client.next();
        const { id, topic } = await publish(url, {
          message: "hello\nworld",
          topic: "a",
        });
        assert.equal(topic, "a");
        const [event] = await client.collect(1);
        assert.equal(event!.id, id);
        assert.equal(event!.event, "chat");
        assert.equal(dataOf(event!).message, "hello\nworld");
      },
    );

    await t.step("topics: a stream gets its topics' events only", async () => {
      await using onB = await SseClient.open(`${url}/events?topic=b`);
      await onB.next();
      await publish(url, { message: "for a", topic: "a" });
      const { id } = await publish(url, { message: "for b", topic: "b" });
      const [event] = await onB.collect(1);
      assert.equal(event!.id, id);
      assert.equal(dataOf(event!).message, "for b");
    });

    await t.step(
      "replay: Last-Event-ID gets the missed events in order, then live",
      async () => {
        const first = await publish(url, { message: "r1", topic: "r" });
        const second = await publish(url, { message: "r2", topic: "r" });
        const third = await publish(url, { message: "r3", topic: "r" });
        await using client = await SseClient.open(`${url}/events?topic=r`, {
          headers: { "last-event-id": first.id },
        });
        const replayed = await client.collect(2);
        assert.deepEqual(replayed.map((e) => e.id), [second.id, third.id]);
        const live = await publish(url, { message: "r4", topic: "r" });
        assert.equal((await client.collect(1))[0]!.id, live.id);
      },
    );

    await t.step(
      "heartbeats: a quiet stream outlives the runtime's idle timeout",
      async () => {
        try {
          const { gapMs, text } = await quiet.silence;
          assert.ok(gapMs >= SILENCE_MS, `silent for ${gapMs} ms only`);
          assert.match(text, /event: system/);
          const { id } = await publish(url, {
            message: "still here",
            topic: "quiet",
          });
          await readUntil(
            quiet.reader,
            (s) => s.includes(`id: ${id}`),
            3000,
            text,
          );
        } finally {
          await quiet.reader.cancel();
        }
      },
    );

    await t.step(
      "disconnect: /stats is back to 0 once every stream is gone",
      async () => {
        const client = await SseClient.open(`${url}/events`);
        await client.next();
        assert.ok((await stats(url)).clients >= 1);
        await client.close();
        // Bun and Node see a closed socket at once; workerd only when it
        // next writes to it (a heartbeat), for this stream and earlier ones.
        await eventually(
          async () => (await stats(url)).clients === 0,
          HEARTBEAT_MS + 5000,
          "every disconnect",
        );
      },
    );

    await t.step(
      "slow reader: a socket that never reads is cut off",
      async () => {
        const before = (await stats(url)).dropped;
        const stuck = await connect(Number(new URL(url).port));
        try {
          await writeAll(
            stuck,
            "GET /events?topic=slow HTTP/1.1\r\nHost: x\r\n\r\n",
          );
          await eventually(
            async () => (await stats(url)).clients === 1,
            5000,
            "the stuck stream",
          );
          const message = "x".repeat(60_000);
          // Bounded: far more than loopback's socket buffers and the 64 KiB queue.
          for (let i = 0; i < 2000; i++) {
            await publish(url, { message, topic: "slow" });
            if (i % 20 === 19 && (await stats(url)).dropped > before) break;
          }
          await eventually(
            async () => {
              const now = await stats(url);
              return now.dropped > before && now.clients === 0;
            },
            5000,
            "the slow reader cut off",
          );
        } finally {
          stuck.close();
        }
      },
    );

    await t.step(
      "drain: SIGTERM ends the stream with a drain event, and the process exits 0",
      async () => {
        await using client = await SseClient.open(`${url}/events`);
        await client.next();
        herald.task.child.kill("SIGTERM");
        const seen = await client.waitFor((e) => e.event === "system", 5000);
        assert.equal(dataOf(seen.at(-1)!).reason, "drain");
        assert.equal(await client.ended(5000), true);
        // The drain's deadline is 3 s; nothing (the hub's timers) keeps the
        // process alive past it.
        const status = await exitWithin(herald.task, 5000);
        assert.equal(status.code, 0, herald.task.output());
      },
    );
  });
}

Deno.test("bun with BUN_WORKERS=2: a publish reaches the streams of both workers; SIGTERM drains both", async () => {
  await using herald = await start("bun", { BUN_WORKERS: "2" });
  const { url } = herald;
  await eventually(
    async () => (await stats(url)).isolates === 2,
    5000,
    "both workers",
  );
  // The kernel spreads connections over the two listeners: open streams
  // until both workers hold some (bounded).
  const clients: SseClient[] = [];
  const workers = new Set<string>();
  try {
    for (let i = 0; i < 40 && workers.size < 2; i++) {
      const client = await SseClient.open(`${url}/events?topic=w`);
      clients.push(client);
      workers.add(String(dataOf(await client.next()).isolate));
    }
    assert.equal(workers.size, 2, "every stream landed on one worker");
    const { id } = await publish(url, { message: "to all", topic: "w" });
    for (const client of clients) {
      assert.equal((await client.collect(1))[0]!.id, id);
    }
    herald.task.child.kill("SIGTERM");
    for (const client of clients) {
      const seen = await client.waitFor((e) => e.event === "system", 5000);
      assert.equal(dataOf(seen.at(-1)!).reason, "drain");
    }
    assert.equal((await exitWithin(herald.task, 5000)).code, 0);
  } finally {
    for (const client of clients) await client.close();
  }
});

Deno.test("a runtime that cannot be had fails by name, never skips: node missing from PATH", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "runtimes/install.ts", "node"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { PATH: "/nonexistent", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "herald: Cannot run herald on Node.js: node is not on PATH (Node.js 20 or later is needed)",
  );
});
