/**
 * jsonText(): JSON with `<`, `>`, `&`, U+2028, U+2029 and U+FEFF escaped,
 * proven by property to be the same JSON value for two independent parsers
 * (V8's `JSON.parse` and npm:jsonc-parser's own scanner). FUZZ_RUNS
 * (default 200) runs per property on FUZZ_SEED (fixed unless "random", as in
 * `deno task fuzz`, which prints it).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse as parseJsonc, type ParseError } from "jsonc-parser";
import { jsonText } from "../lib/json_text.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 200);
const SEED_TEXT = Deno.env.get("FUZZ_SEED") ?? "20260401";
const SEED = SEED_TEXT === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(SEED_TEXT);
if (SEED_TEXT === "random") {
  // deno-lint-ignore no-console
  console.log(`json_text_test: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
}
const PARAMETERS = { seed: SEED, numRuns: RUNS } as const;

const UNSAFE = /[<>&\u2028\u2029\ufeff]/g;

/** What a publisher would send to reach an HTML parser, or to confuse the escape. */
const PIECES = [
  "<",
  ">",
  "&",
  "\u2028",
  "\u2029",
  "\ufeff",
  "<img src=x onerror=alert(1)>",
  "<script>alert(1)</script>",
  "</script>",
  "<!--",
  "-->",
  "<![CDATA[",
  "&lt;",
  "&amp;",
  "&#60;",
  "\\",
  "\\\\",
  '"',
  '\\"',
  "\\u003c",
  "\\\\u003c",
  "\\u",
  "\0",
  "\n",
  "\r",
  "\t",
];

/** One unit of hostile text: a piece above, any code point, or a lone surrogate. */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PIECES) },
  {
    weight: 3,
    arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) =>
      String.fromCharCode(code)
    ),
  },
);

const hostileString = fc.string({ unit, maxLength: 40 });

/** Any JSON value whose strings (keys too) are hostile text. */
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** npm:jsonc-parser in strict mode: no comments, no trailing commas, every error reported. */
function parseStrict(text: string): unknown {
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  assert.deepEqual(errors, [], `jsonc-parser rejected ${text}`);
  return value;
}

Deno.test("jsonText() escapes <, >, &, U+2028, U+2029 and U+FEFF as \\uXXXX", () => {
  assert.equal(
    jsonText({ message: "<img src=x onerror=alert(1)> & \u2028\u2029\ufeff" }),
    '{"message":"\\u003cimg src=x onerror=alert(1)\\u003e \\u0026 \\u2028\\u2029\\ufeff"}',
  );
  assert.equal(jsonText({ "<k>": ["&"] }), '{"\\u003ck\\u003e":["\\u0026"]}');
});

Deno.test("jsonText() is JSON.stringify when nothing needs escaping", () => {
  const value = {
    message: 'a "quoted" \\ line\nwith é, 😀 and \0',
    topic: "chat",
    n: [1, -0, 1.5e300, null, true],
  };
  assert.equal(jsonText(value), JSON.stringify(value));
});

Deno.test("jsonText() leaves a backslash before an escaped character escaped", () => {
  // The text `\<` becomes `\\` then `\u003c`: the backslash stays its own
  // character and cannot turn the escape into something else.
  const text = jsonText({ m: "\\<\\\\>" });
  assert.equal(text, '{"m":"\\\\\\u003c\\\\\\\\\\u003e"}');
  assert.equal(JSON.parse(text).m, "\\<\\\\>");
});

Deno.test("jsonText() refuses a value without JSON text", () => {
  for (const value of [undefined, () => {}, Symbol("s")]) {
    assert.throws(
      () => jsonText(value),
      (error) =>
        error instanceof TypeError &&
        /^Cannot encode value as JSON: a \w+ has no JSON text$/.test(
          error.message,
        ),
    );
  }
  assert.throws(() => jsonText(10n), TypeError);
});

Deno.test("jsonText() reads back as the same value as JSON.stringify, in two independent parsers", () => {
  fc.assert(
    fc.property(hostileJson, (value) => {
      const expected = JSON.parse(JSON.stringify(value));
      const text = jsonText(value);
      assert.deepEqual(JSON.parse(text), expected);
      assert.deepEqual(parseStrict(text), expected);
    }),
    PARAMETERS,
  );
});

Deno.test("jsonText() output holds none of the six characters, and each costs exactly five more", () => {
  fc.assert(
    fc.property(hostileJson, (value) => {
      const plain = JSON.stringify(value);
      const text = jsonText(value);
      assert.equal(text.match(UNSAFE), null);
      const escaped = plain.match(UNSAFE)?.length ?? 0;
      assert.equal(text.length, plain.length + 5 * escaped);
    }),
    PARAMETERS,
  );
});
