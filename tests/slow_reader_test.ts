/**
 * Slow and dead readers, black box: a raw socket opens /events on a real
 * `deno serve` process and never reads while 60 MiB are published. It must be
 * cut off (its queue is bounded by MAX_QUEUED_BYTES), the server's memory
 * must level off instead of growing with what it was sent, and a reader that
 * does read must get every event, in order, without waiting on the dead one.
 */
import assert from "node:assert/strict";
import { startHerald } from "./_process.ts";
import { connect, readChunk, writeAll } from "./_raw_http.ts";
import { eventually } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";

const EVENTS = 1024;
const MESSAGE = "x".repeat(60_000);

/** VmRSS of `pid` in MiB, through `cat` (reading /proc needs --allow-all). */
async function rssMiB(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kib = /VmRSS:\s+(\d+)/.exec(new TextDecoder().decode(stdout))?.[1];
  if (kib === undefined) throw new Error(`Cannot read the RSS of ${pid}`);
  return Number(kib) / 1024;
}

interface Stats {
  localClients: number;
  dropped: number;
}

async function stats(url: string): Promise<Stats> {
  return await (await fetch(`${url}/stats`)).json();
}

/** Reads the socket to its end (FIN or RST); returns the bytes received. */
async function drain(conn: Deno.Conn, timeoutMs: number): Promise<number> {
  let total = 0;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const chunk = await readChunk(conn, Math.max(1, deadline - Date.now()));
      if (chunk === null) return total;
      total += chunk.byteLength;
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) return total;
      throw error;
    }
  }
}

Deno.test("a reader that stops reading is cut off; memory levels off; another reader gets every event on time", async () => {
  await using herald = await startHerald({
    env: { MAX_QUEUED_BYTES: "65536", HISTORY_SIZE: "0" },
  });
  const pid = herald.child.pid;
  const stuck = await connect(herald.port);
  try {
    await writeAll(stuck, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(async () => (await stats(herald.url)).localClients === 1);

    await using reader = await SseClient.open(`${herald.url}/events`);
    assert.equal((await reader.next()).event, "system");
    const arrivals: Array<{ id: string; at: number }> = [];
    const reading = (async () => {
      while (arrivals.length < EVENTS) {
        const event = await reader.next(10_000);
        if (event.id !== undefined) {
          arrivals.push({ id: event.id, at: performance.now() });
        }
      }
    })();

    const baseline = await rssMiB(pid);
    let middle = 0;
    const published: Array<{ id: string; at: number }> = [];
    for (let i = 0; i < EVENTS; i++) {
      const response = await fetch(`${herald.url}/message`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: MESSAGE }),
      });
      const { id } = await response.json();
      assert.equal(response.status, 202);
      published.push({ id, at: performance.now() });
      if (i === EVENTS / 2) middle = await rssMiB(pid);
    }
    await reading;
    const end = await rssMiB(pid);

    // The dead reader was cut off and counted; the live one is still there.
    const after = await stats(herald.url);
    assert.ok(after.dropped >= 1, `dropped: ${after.dropped}`);
    assert.equal(after.localClients, 1);
    assert.match(herald.output(), /Dropped subscriber: queue full/);

    // Every event reached the live reader, in order, and soon after its publish.
    assert.deepEqual(arrivals.map((a) => a.id), published.map((p) => p.id));
    const lags = arrivals.map((a, i) => a.at - published[i]!.at);
    const worst = Math.max(...lags);
    assert.ok(worst < 2000, `worst delivery lag ${worst.toFixed(0)} ms`);

    // Memory levels off: the second 30 MiB add next to nothing. A queue that
    // kept everything for the dead reader would add about 30 MiB here.
    const secondHalf = end - middle;
    assert.ok(
      secondHalf < 20,
      `RSS ${baseline.toFixed(0)} -> ${middle.toFixed(0)} -> ${
        end.toFixed(0)
      } MiB while publishing ${EVENTS * MESSAGE.length / 2 ** 20} MiB`,
    );

    // The dead reader's connection ends: it holds only what the kernel buffered.
    const received = await drain(stuck, 10_000);
    assert.ok(
      received < EVENTS * MESSAGE.length / 2,
      `the dead reader still got ${received} bytes`,
    );
  } finally {
    stuck.close();
  }
  await herald.stop("SIGTERM");
});
