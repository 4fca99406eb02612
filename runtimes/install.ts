/**
 * @module The runtimes herald runs on besides Deno, and where to get them:
 * Bun and workerd are installed from npm at a pinned version on first use,
 * into a cache folder outside the repository (`HERALD_RUNTIMES_DIR`, else
 * `$XDG_CACHE_HOME/herald/runtimes`, else `~/.cache/herald/runtimes`); Node
 * is the machine's own `node` (20 or later). A runtime that cannot be had is
 * an error that says why, never a skip. Deno-only.
 *
 * `deno run -A runtimes/install.ts bun workerd node` installs and checks
 * them (what .ci/run does first).
 */

/** The runtimes herald has an entry for. */
export type RuntimeName = "bun" | "node" | "workerd";

/** Every runtime, in the order the tests run them. */
export const RUNTIME_NAMES: readonly RuntimeName[] = ["bun", "node", "workerd"];

/** The pinned npm packages. */
export const NPM_RUNTIMES = {
  bun: { name: "bun", version: "1.4.4" },
  workerd: { name: "workerd", version: "1.20261117.1" },
} as const;

/** The oldest Node.js major version herald runs on. */
export const NODE_MIN_MAJOR = 20;

/** Raised when a runtime cannot be installed or found. */
export class RuntimeUnavailableError extends Error {
  /** Names the runtime and why. */
  constructor(message: string) {
    super(message);
    this.name = "RuntimeUnavailableError";
  }
}

function cacheRoot(): string {
  const explicit = Deno.env.get("HERALD_RUNTIMES_DIR");
  if (explicit !== undefined && explicit !== "") return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const base = xdg !== undefined && xdg !== ""
    ? xdg
    : `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/herald/runtimes`;
}

async function run(
  command: string,
  args: string[],
): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      ok: out.success,
      text: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim(),
    };
  } catch (error) {
    return { ok: false, text: String(error) };
  }
}

/**
 * The first executable file called `name` in a folder of PATH that is not
 * Deno itself, or null. Deno puts a `node` that runs Deno
 * (`~/.cache/deno/node_compat_bin`) first on the PATH of its children, and
 * runs itself for a bare `node` it cannot find: neither is Node.js.
 */
async function onPath(name: string): Promise<string | null> {
  const deno = await Deno.realPath(Deno.execPath());
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const path = `${dir}/${name}`;
    try {
      const info = await Deno.stat(path);
      if (!info.isFile || ((info.mode ?? 0o111) & 0o111) === 0) continue;
      if (await Deno.realPath(path) === deno) continue;
      return path;
    } catch {
      // Not in this folder.
    }
  }
  return null;
}

/**
 * The path of the runtime's executable, installing it first when needed.
 *
 * @throws {RuntimeUnavailableError} when npm cannot install it, or `node` is
 * missing or too old
 */
export async function ensureRuntime(name: RuntimeName): Promise<string> {
  if (name === "node") {
    const node = await onPath("node");
    const { ok, text } = node === null
      ? { ok: false, text: "" }
      : await run(node, ["--version"]);
    const major = Number(/^v(\d+)\./.exec(text)?.[1] ?? NaN);
    if (!ok || !(major >= NODE_MIN_MAJOR)) {
      throw new RuntimeUnavailableError(
        `Cannot run herald on Node.js: ${
          ok
            ? `node ${text} is older than ${NODE_MIN_MAJOR}`
            : "node is not on PATH"
        } (Node.js ${NODE_MIN_MAJOR} or later is needed)`,
      );
    }
    return node!;
  }
  const pkg = NPM_RUNTIMES[name];
  const dir = `${cacheRoot()}/${pkg.name}@${pkg.version}`;
  const bin = `${dir}/node_modules/.bin/${pkg.name}`;
  if ((await run(bin, ["--version"])).ok) return bin;
  const install = await run("npm", [
    "install",
    "--prefix",
    dir,
    "--no-save",
    "--no-package-lock",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    `${pkg.name}@${pkg.version}`,
  ]);
  const check = await run(bin, ["--version"]);
  if (!install.ok || !check.ok) {
    throw new RuntimeUnavailableError(
      `Cannot install ${pkg.name}@${pkg.version} from npm into ${dir}: ${
        install.ok ? check.text : install.text
      }`,
    );
  }
  return bin;
}

if (import.meta.main) {
  const names = Deno.args.length === 0 ? RUNTIME_NAMES : Deno.args;
  for (const name of names) {
    if (!RUNTIME_NAMES.includes(name as RuntimeName)) {
      // deno-lint-ignore no-console
      console.error(
        `herald: Cannot install ${JSON.stringify(name)}: not one of ${
          RUNTIME_NAMES.join(", ")
        }`,
      );
      Deno.exit(2);
    }
    try {
      const bin = await ensureRuntime(name as RuntimeName);
      // deno-lint-ignore no-console
      console.log(`${name}: ${bin}`);
    } catch (error) {
      // deno-lint-ignore no-console
      console.error(`herald: ${(error as Error).message}`);
      Deno.exit(1);
    }
  }
}
