/**
 * @module Where a server's CPU goes under load: starts `profile_server.ts`
 * (herald's handler, or the minimal broadcaster) with V8's sampling profiler
 * (`--v8-flags=--prof`), opens N streams, publishes M msg/s for S seconds,
 * stops the server and prints the summary of `node --prof-process` (the
 * machine's Node reads V8's log format).
 *
 * Run: `deno run -A bench/cpu_profile.ts [--app herald] [--streams 1000] [--rate 200] [--seconds 10]`
 * (`--rate 0` profiles opening the streams only). `--app node` profiles
 * herald's default server (node:http), `herald` and `minimal` run behind
 * `Deno.serve`.
 */
import { parseArgs } from "node:util";
import { StreamFleet } from "./fleet.ts";
import { runPhase } from "./phase.ts";
import { type PeerSpec, ROOT, RunningPeer } from "./peers.ts";
import { phaseLine, print, progress } from "./report.ts";

/** Profiles one app; returns the processed profile text. */
export async function profileCpu(
  app: string,
  options: { streams: number; rate: number; seconds: number; lines: number },
): Promise<string> {
  const dir = Deno.makeTempDirSync({ prefix: "herald-prof-" });
  const spec: PeerSpec = {
    name: `prof-${app}`,
    label: app,
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "-A",
        `--v8-flags=--prof,--logfile=${dir}/v8-%p.log,--no-logfile-per-isolate`,
        // `node`: herald's default server (node:http, adapters/node_main.ts).
        ...(app === "node"
          ? [`${ROOT}/adapters/node_main.ts`]
          : [`${ROOT}/bench/profile_server.ts`, app]),
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1", MAX_CLIENTS: "20000" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  };
  const peer = await RunningPeer.start(spec);
  const fleet = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    const open = await fleet.open({
      host: "127.0.0.1",
      port: peer.port,
      path: spec.eventsPath,
      count: options.streams,
    });
    if (options.rate > 0) {
      const phase = await runPhase({
        fleet,
        streams: open.established,
        serverPid: peer.pid,
        host: "127.0.0.1",
        port: peer.port,
        publishPath: spec.publishPath,
        nextSeq: 0,
      }, {
        messages: options.rate * options.seconds,
        rate: options.rate,
      });
      progress(`${app}: ${phaseLine(phase)}`);
    } else {
      progress(
        `${app}: opened ${open.established} in ${
          open.openMs.toFixed(0)
        } ms (no publishing)`,
      );
    }
  } finally {
    await fleet.close();
    await peer.stop();
  }
  const logs = [...Deno.readDirSync(dir)].filter((e) =>
    e.name.endsWith(".log")
  );
  if (logs.length === 0) {
    throw new Error(`Cannot process profile: no V8 log in ${dir}`);
  }
  const out = new Deno.Command("node", {
    args: ["--prof-process", `${dir}/${logs[0]!.name}`],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  Deno.removeSync(dir, { recursive: true });
  const text = new TextDecoder().decode(out.stdout);
  const summary = text.indexOf(" [Summary]:");
  const bottomUp = text.indexOf(" [Bottom up (heavy) profile]:");
  const head = text.slice(0, summary === -1 ? 4000 : summary).split("\n").slice(
    0,
    options.lines,
  );
  const tail = summary === -1
    ? []
    : text.slice(summary, bottomUp === -1 ? undefined : bottomUp).split("\n");
  return [`### ${app}`, "", "```", ...head, ...tail, "```"].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      app: { type: "string", default: "herald" },
      streams: { type: "string", default: "1000" },
      rate: { type: "string", default: "200" },
      seconds: { type: "string", default: "10" },
      lines: { type: "string", default: "60" },
    },
  });
  for (const app of values.app.split(",")) {
    print(
      await profileCpu(app, {
        streams: Number(values.streams),
        rate: Number(values.rate),
        seconds: Number(values.seconds),
        lines: Number(values.lines),
      }),
    );
  }
}
