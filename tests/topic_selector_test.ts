import assert from "node:assert/strict";
import {
  compileSelector,
  compileSelectors,
} from "../lib/auth/topic_selector.ts";

Deno.test("compileSelector() grants an exact topic and nothing else", () => {
  const exact = compileSelector("users/42/notes");
  assert.ok(exact("users/42/notes"));
  assert.ok(!exact("users/42/notes/x"));
  assert.ok(!exact("users/42"));
  assert.ok(!exact("Users/42/notes"));
});

Deno.test("compileSelector() grants every topic with *", () => {
  const all = compileSelector("*");
  for (const topic of ["chat", "users/42/x", "a:b"]) assert.ok(all(topic));
});

Deno.test("compileSelector() matches URL Pattern syntax against the topic as a path", () => {
  const mine = compileSelector("users/42/*");
  assert.ok(mine("users/42/notes"));
  assert.ok(mine("users/42/a/b"));
  assert.ok(!mine("users/43/notes"));
  assert.ok(!mine("users/420/notes"));
  const named = compileSelector("users/:id/jobs");
  assert.ok(named("users/7/jobs"));
  assert.ok(!named("users/7/8/jobs"));
  const group = compileSelector("room/(red|blue)");
  assert.ok(group("room/red") && group("room/blue") && !group("room/green"));
});

Deno.test("compileSelector() never lets a pattern match a topic with dot segments", () => {
  const theirs = compileSelector("users/43/*");
  assert.ok(!theirs("users/42/../43/x"));
  assert.ok(!theirs("users/43/./x"));
  assert.ok(theirs("users/43/x.y"));
});

Deno.test("compileSelector() matches a full URL pattern against URL topics", () => {
  const books = compileSelector("https://example.com/books/:id");
  assert.ok(books("https://example.com/books/1"));
  assert.ok(!books("https://example.com/authors/1"));
  assert.ok(!books("https://evil.example/books/1"));
  assert.ok(!books("books/1"));
});

Deno.test("compileSelector() grants only the exact topic for an invalid pattern", () => {
  const broken = compileSelector("users/(42");
  assert.ok(broken("users/(42"));
  assert.ok(!broken("users/42"));
});

Deno.test("compileSelectors() grants nothing for [] and a topic when any selector does", () => {
  assert.ok(!compileSelectors([])("chat"));
  const some = compileSelectors(["a", "users/42/*"]);
  assert.ok(some("a") && some("users/42/x") && !some("b"));
  assert.ok(compileSelectors(["a", "*"])("b"));
});
