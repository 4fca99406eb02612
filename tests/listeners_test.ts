import assert from "node:assert/strict";
import { Listeners } from "../lib/listeners.ts";

Deno.test("Listeners.emit() calls every listener; add() returns the removal", () => {
  const seen: string[] = [];
  const listeners = new Listeners<string>();
  const removeA = listeners.add((v) => seen.push(`a${v}`));
  listeners.add((v) => seen.push(`b${v}`));
  listeners.emit("1");
  removeA();
  listeners.emit("2");
  listeners.clear();
  listeners.emit("3");
  assert.deepEqual(seen, ["a1", "b1", "b2"]);
});

Deno.test("Listeners.emit() with onError reports a throwing listener and still calls the rest", () => {
  const seen: string[] = [];
  const errors: string[] = [];
  const listeners = new Listeners<string>();
  listeners.add(() => {
    throw new Error("boom");
  });
  listeners.add((v) => seen.push(v));
  listeners.emit("x", (error) => errors.push(error.message));
  assert.deepEqual([seen, errors], [["x"], ["boom"]]);
  assert.throws(() => listeners.emit("y"), /boom/);
});
