/**
 * @module RFC 6570 URI templates, read backwards: whether a topic is one of
 * the URIs a template expands to, for the older Mercure dialect's `topic=`
 * selectors and grants. All four levels parse; matching is by the characters
 * each operator may expand to, so a simple `{id}` never spans a `/` (its
 * value would be percent-encoded). Templates come from subscribers, so the
 * matcher is a small automaton run in one pass (time linear in the topic
 * times the template), never a backtracking regular expression. Web-only.
 */

const UNRESERVED =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
const RESERVED = ":/?#[]@!$&'()*+,;=";

/** Characters a simple or prefixed value expands to: unreserved, `%XX`, and the `,` `=` of lists and pairs. */
const VALUE = new Set(UNRESERVED + "%,=");
/** Reserved expansion (`+`, `#`). */
const ANY = new Set(UNRESERVED + RESERVED + "%");
/** Query pairs (`?`, `&`): values with `&` between them. */
const QUERY = new Set(UNRESERVED + "%,=&");

interface Operator {
  /** The character that starts each expanded part; null: none. */
  readonly prefix: string | null;
  /** Whether several prefixed parts may follow (`/a/b`, `;a;b`). */
  readonly repeats: boolean;
  readonly chars: ReadonlySet<string>;
}

const OPERATORS: Readonly<Record<string, Operator>> = {
  "": { prefix: null, repeats: false, chars: VALUE },
  "+": { prefix: null, repeats: false, chars: ANY },
  "#": { prefix: "#", repeats: false, chars: ANY },
  ".": { prefix: ".", repeats: true, chars: VALUE },
  "/": { prefix: "/", repeats: true, chars: VALUE },
  ";": { prefix: ";", repeats: true, chars: VALUE },
  "?": { prefix: "?", repeats: false, chars: QUERY },
  "&": { prefix: "&", repeats: false, chars: QUERY },
};

/** A variable list: names of letters, digits, `_`, `.` and `%XX`, each with `:n` or `*`. */
const VARSPEC =
  /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9]\d{0,3}|\*)?$/;

type Node = string | Operator;

/**
 * Expressions one template may hold; a template with more is read as an
 * exact topic. Bounds the states a match runs through at once.
 */
export const MAX_EXPRESSIONS = 16;

function parse(template: string): Node[] | null {
  const nodes: Node[] = [];
  let i = 0;
  while (i < template.length) {
    const char = template[i]!;
    if (char === "}") return null;
    if (char !== "{") {
      nodes.push(char);
      i++;
      continue;
    }
    const end = template.indexOf("}", i);
    if (end < 0) return null;
    let expression = template.slice(i + 1, end);
    if (expression.includes("{")) return null;
    const op = /^[+#./;?&]/.test(expression) ? expression[0]! : "";
    expression = expression.slice(op.length);
    if (!expression.split(",").every((spec) => VARSPEC.test(spec))) {
      return null;
    }
    nodes.push(OPERATORS[op]!);
    i = end + 1;
  }
  return nodes;
}

/**
 * Compiles `template` to a whole-string matcher; null when it holds no
 * expression, more than {@linkcode MAX_EXPRESSIONS}, or is not a valid
 * template (then it is an exact topic).
 *
 * @example A book's topic
 * ```ts
 * import { compileUriTemplate } from "./uri_template.ts";
 * const books = compileUriTemplate("https://example.com/books/{id}")!;
 * if (!books("https://example.com/books/1") || books("https://example.com/books/1/x")) throw new Error();
 * ```
 */
export function compileUriTemplate(
  template: string,
): ((topic: string) => boolean) | null {
  if (!template.includes("{")) return null;
  const nodes = parse(template);
  if (nodes === null) return null;
  if (nodes.filter((n) => typeof n !== "string").length > MAX_EXPRESSIONS) {
    return null;
  }
  const accept = 2 * nodes.length;
  // State 2i: before node i; 2i+1: inside expression i, after its prefix.
  // Each state's epsilon closure is computed once, here.
  const closures: number[][] = [];
  for (let state = 0; state <= accept + 1; state++) {
    const closure: number[] = [];
    let at = state;
    while (true) {
      closure.push(at);
      if (at >= accept) break;
      const node = nodes[at >> 1]!;
      if (typeof node === "string") break;
      at = (at & 1) === 0 && node.prefix === null ? at + 1 : (at | 1) + 1;
    }
    closures.push(closure);
  }
  const stamps = new Uint32Array(accept + 2);
  let stamp = 0;
  return (topic) => {
    let current = closures[0]!;
    for (const char of topic) {
      if (++stamp === 0xffffffff) {
        stamps.fill(0);
        stamp = 1;
      }
      const next: number[] = [];
      const add = (state: number) => {
        for (const reached of closures[state]!) {
          if (stamps[reached] === stamp) continue;
          stamps[reached] = stamp;
          next.push(reached);
        }
      };
      for (const state of current) {
        if (state >= accept) continue;
        const node = nodes[state >> 1]!;
        if (typeof node === "string") {
          if (char === node) add(state + 2);
        } else if ((state & 1) === 0) {
          if (char === node.prefix) add(state + 1);
        } else if (
          node.chars.has(char) || (node.repeats && char === node.prefix)
        ) {
          add(state);
        }
      }
      if (next.length === 0) return false;
      current = next;
    }
    return current.includes(accept);
  };
}
