/**
 * @module Builds each runtime's entry into one JavaScript file with
 * `deno bundle` (Deno's built-in bundler, esbuild underneath): it resolves
 * deno.json's `npm:` imports and inlines the static files (raw imports), so
 * no package.json, node_modules or second bundler is needed. Output goes to
 * `runtimes/<name>/build/herald.mjs` (git-ignored). Deno-only.
 *
 * `deno run -A runtimes/build.ts bun node workerd` builds them.
 */
import type { RuntimeName } from "./install.ts";

/** Where each runtime's entry is, and the platform it is bundled for. */
const ENTRIES: Record<RuntimeName, { entry: string; platform: string }> = {
  bun: { entry: "bun/main.ts", platform: "deno" },
  node: { entry: "node/main.ts", platform: "deno" },
  workerd: { entry: "workerd/worker.ts", platform: "browser" },
};

/** The path of the bundle of `name`'s entry. */
export function bundlePath(name: RuntimeName): string {
  return new URL(`./${name}/build/herald.mjs`, import.meta.url).pathname;
}

/**
 * Bundles `name`'s entry into {@linkcode bundlePath}; returns that path.
 *
 * @throws {Error} with deno bundle's output when it fails
 */
export async function buildRuntime(name: RuntimeName): Promise<string> {
  const { entry, platform } = ENTRIES[name];
  const output = bundlePath(name);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      `--platform=${platform}`,
      "--format=esm",
      "-o",
      output,
      new URL(`./${entry}`, import.meta.url).pathname,
    ],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const decoder = new TextDecoder();
    throw new Error(
      `Cannot bundle ${entry}: ${
        decoder.decode(out.stderr) || decoder.decode(out.stdout)
      }`,
    );
  }
  return output;
}

if (import.meta.main) {
  for (const name of Deno.args as RuntimeName[]) {
    if (!(name in ENTRIES)) {
      // deno-lint-ignore no-console
      console.error(
        `herald: Cannot build ${
          JSON.stringify(name)
        }: not bun, node or workerd`,
      );
      Deno.exit(2);
    }
    // deno-lint-ignore no-console
    console.log(await buildRuntime(name));
  }
}
