/** Tests of the static path guard, lib/safe_path.ts: `..` in any spelling never leaves the folder. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { resolveStaticPath } from "../lib/safe_path.ts";

// FUZZ_SEED=random (as in `deno task fuzz`): a fresh seed; a failure prints it.
const SEED_TEXT = Deno.env.get("FUZZ_SEED") ?? "20260401";
const SEED = SEED_TEXT === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(SEED_TEXT);
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 200);

Deno.test("resolveStaticPath() returns plain relative paths unchanged", () => {
  for (
    const path of ["app.js", "index.html", "style.css", "a/b/c.js", "a-b_c.d.e"]
  ) {
    assert.equal(resolveStaticPath(path), path);
  }
});

Deno.test("resolveStaticPath() decodes percent-encoded names once", () => {
  assert.equal(resolveStaticPath("app%2Ejs"), "app.js");
  assert.equal(resolveStaticPath("a%2Fb.js"), "a/b.js");
});

const REFUSED: Array<[string, string]> = [
  ["an empty path", ""],
  ["a dot", "."],
  ["a raw ..", ".."],
  ["../ at the start", "../main.ts"],
  ["../ in the middle", "a/../../main.ts"],
  ["a trailing ..", "a/.."],
  ["%2e%2e", "%2e%2e/main.ts"],
  ["%2E%2E", "%2E%2E/main.ts"],
  ["a half-encoded .%2e", ".%2e/main.ts"],
  ["..%2F", "..%2Fmain.ts"],
  ["%2F..%2F", "%2F..%2F..%2Fmain.ts"],
  ["%2e%2e%2f", "%2e%2e%2fmain.ts"],
  ["a backslash", "..\\main.ts"],
  ["%5c", "..%5cmain.ts"],
  ["double encoding", "%252e%252e%252fmain.ts"],
  ["overlong UTF-8 dots", "%c0%ae%c0%ae/main.ts"],
  ["a malformed escape", "%E0%A4%A"],
  ["a lone %", "%"],
  ["an absolute path", "/etc/passwd"],
  ["an encoded absolute path", "%2Fetc%2Fpasswd"],
  ["an empty segment", "a//b.js"],
  ["a trailing slash", "a/"],
  ["NUL", "app.js%00.html"],
  ["a raw NUL", "app.js\0"],
  ["a dotfile", ".env"],
  ["a dot folder", ".git/config"],
  ["a nested dotfile", "a/.hidden"],
  ["four dots", "..../main.ts"],
  ["a drive letter", "C:%5Cwindows"],
  ["a URL scheme", "file:///etc/passwd"],
  ["a semicolon", "..;/main.ts"],
  ["a space", "app .js"],
  ["a query mark", "app.js%3Fx"],
  ["a segment over 128 characters", "a".repeat(129)],
  ["a path over 512 characters", Array(200).fill("ab").join("/")],
];

for (const [name, path] of REFUSED) {
  Deno.test(`resolveStaticPath() refuses ${name}`, () => {
    assert.equal(resolveStaticPath(path), null);
  });
}

Deno.test("resolveStaticPath() never resolves outside the folder (property)", () => {
  const piece = fc.constantFrom(
    "..",
    ".",
    "/",
    "\\",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%00",
    "%25",
    "%c0%ae",
    "a",
    "app.js",
    "static",
    ":",
    "~",
  );
  const path = fc.oneof(
    fc.string({ unit: piece, maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 40 }),
  );
  const root = "file:///srv/herald/static/";
  fc.assert(
    fc.property(path, (input) => {
      const safe = resolveStaticPath(input);
      if (safe === null) return;
      const resolved = new URL(safe, root).href;
      assert.ok(resolved.startsWith(root), `${input} -> ${resolved}`);
      for (const segment of safe.split("/")) {
        assert.ok(segment !== "" && !segment.startsWith("."), safe);
      }
    }),
    { seed: SEED, numRuns: RUNS * 5 },
  );
});
