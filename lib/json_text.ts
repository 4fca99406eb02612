/**
 * @module JSON for event data that may land in HTML. Web-only: no Deno APIs.
 *
 * Some SSE clients put `event.data` into the page as HTML (htmx's SSE
 * extension swaps it with `innerHTML` semantics), so a publisher's
 * `<img onerror=...>` inside plain JSON would run in every subscriber's
 * page. {@linkcode jsonText} writes the characters that HTML or an older
 * JavaScript parser act on as `\uXXXX` escapes, as Go's `encoding/json`
 * does: the text decodes to exactly the same value in every JSON parser.
 */

/**
 * The characters {@linkcode jsonText} escapes. `<`, `>` and `&` start tags,
 * end them and start character references; U+2028 and U+2029 end lines in
 * JavaScript before ES2019; U+FEFF is dropped by some streaming decoders
 * (Deno's `TextDecoder`, hence its `EventSource`) at the start of a chunk.
 * JSON puts them only inside strings, where `\uXXXX` stands for each.
 */
const UNSAFE = /[<>&\u2028\u2029\ufeff]/g;

const ESCAPES: Readonly<Record<string, string>> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
  "\ufeff": "\\ufeff",
};

function escape(character: string): string {
  return ESCAPES[character]!;
}

/**
 * `JSON.stringify(value)` with `<`, `>`, `&`, U+2028, U+2029 and U+FEFF
 * written as `\uXXXX`: the same JSON value, but no markup for an HTML
 * parser. One regular-expression pass over the JSON text.
 *
 * @example Markup stays text
 * ```ts
 * import { jsonText } from "./json_text.ts";
 *
 * const text = jsonText({ message: "<b>&</b>" });
 * // text === '{"message":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}'
 * if (JSON.parse(text).message !== "<b>&</b>") throw new Error("changed");
 * ```
 *
 * @param value A JSON-serialisable value.
 * @returns The JSON text, free of `<`, `>`, `&`, U+2028, U+2029 and U+FEFF.
 * @throws {TypeError} When `value` has no JSON text (`undefined`, a function
 * or a symbol), or when `JSON.stringify` throws (a cycle, a BigInt).
 */
export function jsonText(value: unknown): string {
  const json: string | undefined = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(
      `Cannot encode value as JSON: a ${typeof value} has no JSON text`,
    );
  }
  return json.replace(UNSAFE, escape);
}
