import assert from "node:assert/strict";
import { heapFlags, SEMI_SPACE_MIB } from "../adapters/v8_flags.ts";

Deno.test("heapFlags() bounds the young generation by default", () => {
  assert.deepEqual(heapFlags({}), [
    `--v8-flags=--max-semi-space-size=${SEMI_SPACE_MIB}`,
  ]);
  assert.deepEqual(heapFlags({ DENO_V8_FLAGS: "--max-old-space-size=512" }), [
    `--v8-flags=--max-semi-space-size=${SEMI_SPACE_MIB}`,
  ]);
});

Deno.test("heapFlags() adds nothing when DENO_V8_FLAGS sets the semi-space itself", () => {
  assert.deepEqual(
    heapFlags({ DENO_V8_FLAGS: "--max-semi-space-size=32" }),
    [],
  );
  assert.deepEqual(heapFlags({ DENO_V8_FLAGS: "--max_semi_space_size=1" }), []);
});
