/**
 * @module SIGINT/SIGTERM → drain, for the Bun and Node entries (both have
 * `node:process`): the same sequence as adapters/compose.ts's installDrain
 * for Deno. The first signal ends every stream with the drain's `retry:`,
 * stops the hub's timers and the engine (so nothing keeps the process
 * alive), stops the server, and exits; a deadline covers readers too slow to
 * take their last bytes; a second signal exits at once.
 */
import process from "node:process";
import type { App } from "../routes/app.ts";
import { consoleLogger } from "../lib/log.ts";

/** How long a drain may take before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 3000;

/** Drains `app` and runs `stop` (close the server) on the first SIGINT/SIGTERM, then exits 0. */
export function installProcessDrain(
  app: App,
  stop: () => Promise<void>,
): void {
  let stopping = false;
  const drain = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    consoleLogger.log(
      "info",
      "Draining: ending every stream with a retry hint",
      { signal },
    );
    const deadline = setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS);
    // Unref'd: when the streams close sooner, the process exits sooner.
    (deadline as unknown as { unref?: () => void }).unref?.();
    void Promise.all([app.close(), stop()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => drain(signal));
  }
}
