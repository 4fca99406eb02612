/**
 * @module What the bus between isolates costs, apart from HTTP: Workers in
 * one process, each on the BroadcastChannel bus; the first publishes
 * `--per-tick` events every millisecond for `--seconds`, the others only
 * receive. The process's CPU over the run, less that of the same run with
 * one isolate (no peer to cross to), is the bus's cost: it prints it per
 * event received and per data frame. Every isolate ticks a 1 ms timer alike,
 * so the baseline holds the timers' own cost. Linux (/proc).
 *
 * Run: `deno run -A bench/bus_cost.ts [--per-tick 1,16,64] [--seconds 3]`
 */
import { parseArgs } from "node:util";
import { selfCpuMs } from "./proc.ts";
import { print, progress } from "./report.ts";

interface Outcome {
  got: number;
  frames: number;
}

/** Runs `isolates` Workers once; returns the CPU used and what each reported. */
async function runOnce(
  isolates: number,
  perTick: number,
  seconds: number,
): Promise<{ cpuMs: number; outcomes: Outcome[] }> {
  const channel = `bus-cost-${crypto.randomUUID()}`;
  const workers = Array.from(
    { length: isolates },
    () =>
      new Worker(new URL("./bus_cost_worker.ts", import.meta.url), {
        type: "module",
      }),
  );
  let ready = 0;
  let startedAt = 0;
  try {
    const outcomes = await Promise.all(
      workers.map((worker, index) =>
        new Promise<Outcome>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error("Timed out waiting for an isolate")),
            (seconds + 10) * 1000,
          );
          worker.onmessage = (message: MessageEvent) => {
            if (message.data.ready === true) {
              if (++ready === isolates) startedAt = selfCpuMs();
              return;
            }
            clearTimeout(timer);
            resolve(message.data as Outcome);
          };
          worker.onerror = (event) => {
            clearTimeout(timer);
            reject(new Error(event.message));
          };
          worker.postMessage({
            publish: index === 0,
            perTick,
            seconds,
            channel,
          });
        })
      ),
    );
    return { cpuMs: selfCpuMs() - startedAt, outcomes };
  } finally {
    for (const worker of workers) worker.terminate();
  }
}

/** One line per `perTick`: the bus's CPU per event and per frame. */
export async function busCost(
  perTicks: number[],
  seconds: number,
): Promise<string[]> {
  const lines: string[] = [];
  for (const perTick of perTicks) {
    const alone = await runOnce(1, perTick, seconds);
    const pair = await runOnce(2, perTick, seconds);
    const [sender, receiver] = pair.outcomes;
    if (sender === undefined || receiver === undefined) {
      throw new Error("Cannot measure: an isolate did not report");
    }
    if (receiver.got !== sender.got) {
      throw new Error(
        `Bus lost events: sent ${sender.got}, received ${receiver.got}`,
      );
    }
    const extraMs = pair.cpuMs - alone.cpuMs;
    const line =
      `${perTick} events per ms tick: ${receiver.got} events in ${sender.frames} frames (${
        (receiver.got / Math.max(1, sender.frames)).toFixed(1)
      } per frame); CPU ${alone.cpuMs.toFixed(0)} ms alone, ${
        pair.cpuMs.toFixed(0)
      } ms with a peer: the bus ${
        (extraMs * 1000 / Math.max(1, receiver.got)).toFixed(1)
      } µs per event, ${
        (extraMs * 1000 / Math.max(1, sender.frames)).toFixed(0)
      } µs per frame (both ends)`;
    progress(line);
    lines.push(line);
  }
  return lines;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "per-tick": { type: "string", default: "1,16,64" },
      seconds: { type: "string", default: "3" },
    },
  });
  print(
    (await busCost(
      values["per-tick"].split(",").map(Number),
      Number(values.seconds),
    )).join("\n"),
  );
}
