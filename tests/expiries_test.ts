import assert from "node:assert/strict";
import { Expiries } from "../lib/expiries.ts";

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No expiry in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test("Expiries ends items in deadline order behind one timer, and never a deleted one", async () => {
  const ended: string[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const expiries = new Expiries<string>((item) => {
    ended.push(item);
    if (item === "late") done();
  });
  try {
    const now = Date.now();
    expiries.set("late", now + 1000);
    expiries.set("soon", now);
    expiries.set("gone", now);
    expiries.set("moved", now);
    expiries.set("moved", Number.POSITIVE_INFINITY);
    expiries.delete("gone");
    await withTimeout(finished, 5000);
    assert.deepEqual(ended, ["soon", "late"]);
    assert.equal(expiries.size, 0);
  } finally {
    expiries.close();
  }
});
