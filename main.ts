/**
 * herald's composition root: config, adapters, the handler. Run it with
 * `deno serve [--parallel] main.ts` (what `deno task start` and
 * `deno task start:parallel` do, through adapters/launcher.ts); the default
 * export's `fetch` is the plain `(Request) => Promise<Response>` handler.
 *
 * Deno-only calls live here and in `adapters/`; `lib/` and `routes/` are
 * Web-standard. This module never calls `Deno.serve`: every `deno serve`
 * isolate runs it with `import.meta.main` true.
 */
import { composeApp, installDrain } from "./adapters/compose.ts";
import { loadConfigOrExit } from "./adapters/deno_config.ts";

const app = await composeApp(loadConfigOrExit());
installDrain(app);

/** The handler for `deno serve`. */
export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
