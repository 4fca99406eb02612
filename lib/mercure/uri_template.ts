/**
 * @module RFC 6570 URI templates, read backwards: whether a topic is one of
 * the URIs a template expands to, for the older Mercure dialect's `topic=`
 * selectors and grants. All four levels parse; matching is by the characters
 * each operator may expand to, so a simple `{id}` never spans a `/` (its
 * value would be percent-encoded). Web-only.
 */

/** Unreserved characters, plus `,` and `=` that lists and exploded pairs add. */
const VALUE = String.raw`(?:[A-Za-z0-9\-._~,=]|%[0-9A-Fa-f]{2})*`;
/** Reserved expansion (`+`, `#`): unreserved and reserved characters. */
const RESERVED = String
  .raw`(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*`;
/** Query pairs: values with `&` between them. */
const QUERY = String.raw`(?:[A-Za-z0-9\-._~,=&]|%[0-9A-Fa-f]{2})*`;

/** The pattern each operator's expansion takes (an undefined value expands to ""). */
const OPERATORS: Readonly<Record<string, string>> = {
  "": VALUE,
  "+": RESERVED,
  "#": `(?:#${RESERVED})?`,
  ".": `(?:\\.${VALUE})?`,
  "/": `(?:/${VALUE})*`,
  ";": `(?:;${VALUE})*`,
  "?": `(?:\\?${QUERY})?`,
  "&": `(?:&${QUERY})?`,
};

/** A variable list: names of letters, digits, `_`, `.` and `%XX`, each with `:n` or `*`. */
const VARIABLES =
  /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9]\d{0,3}|\*)?(?:,(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*(?::[1-9]\d{0,3}|\*)?)*$/;

function escapeLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

/**
 * Compiles `template` to a whole-string matcher; null when it holds no
 * expression or is not a valid template (then it is an exact topic).
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
  let source = "";
  let rest = template;
  while (rest !== "") {
    const open = rest.indexOf("{");
    const close = rest.indexOf("}");
    if (open < 0) {
      if (close >= 0) return null;
      source += escapeLiteral(rest);
      break;
    }
    if (close >= 0 && close < open) return null;
    source += escapeLiteral(rest.slice(0, open));
    const end = rest.indexOf("}", open);
    if (end < 0) return null;
    let expression = rest.slice(open + 1, end);
    const operator = /^[+#./;?&]/.test(expression) ? expression[0]! : "";
    expression = expression.slice(operator.length);
    if (!VARIABLES.test(expression)) return null;
    source += OPERATORS[operator]!;
    rest = rest.slice(end + 1);
  }
  const pattern = new RegExp(`^${source}$`);
  return (topic) => pattern.test(topic);
}
