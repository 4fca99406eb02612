/**
 * @module Topic selectors: the strings in a token's `mercure.subscribe` and
 * `mercure.publish` that say which topics it grants. A selector is `*` (every
 * topic), an exact topic name, or a URL Pattern (the built-in `URLPattern`).
 * Compiled once per connection, never per event. Web-only.
 */

/** Characters that make a selector a URL Pattern rather than only a name. */
const PATTERN_SYNTAX = /[*:(){}?+\\]/;

/** A path segment that URL parsing would resolve away (`.` or `..`). */
const DOT_SEGMENT = /(?:^|\/)\.{1,2}(?:\/|$)/;

/** A compiled selector: whether it grants `topic`. */
export type TopicSelector = (topic: string) => boolean;

function grantsNothing(): boolean {
  return false;
}

function grantsAll(): boolean {
  return true;
}

/** Compiled selectors by text, so a thousand tokens with one selector compile it once. */
const cache = new Map<string, TopicSelector>();
const CACHE_LIMIT = 1024;

function compilePattern(selector: string): ((topic: string) => boolean) | null {
  try {
    if (selector.includes("://")) {
      // A full URL pattern matches topics that are URLs.
      const pattern = new URLPattern(selector);
      return (topic) => {
        try {
          return pattern.test(topic);
        } catch {
          return false;
        }
      };
    }
    // A name pattern matches the topic as a path: `users/:id/*`.
    const pattern = new URLPattern({ pathname: `/${selector}` });
    return (topic) => pattern.test({ pathname: `/${topic}` });
  } catch {
    return null;
  }
}

/**
 * Compiles one selector. `*` grants every topic; any selector grants the topic
 * spelled exactly like it; a selector with URL Pattern syntax (`* : ( ) { } ?
 * + \`) also grants the topics its pattern matches: a name pattern such as
 * `users/:id/*` is matched against `/` + the topic as a pathname, a full URL
 * pattern (with `://`) against the topic as a URL. A pattern never matches a
 * topic with a `.` or `..` segment (URL parsing would resolve it), and a
 * selector that is not a valid pattern grants only its exact topic.
 *
 * @example Selectors
 * ```ts
 * import { compileSelector } from "./topic_selector.ts";
 * const mine = compileSelector("users/42/*");
 * if (!mine("users/42/notes") || mine("users/43/notes")) throw new Error();
 * ```
 */
export function compileSelector(selector: string): TopicSelector {
  if (selector === "*") return grantsAll;
  let compiled = cache.get(selector);
  if (compiled !== undefined) return compiled;
  const pattern = PATTERN_SYNTAX.test(selector)
    ? compilePattern(selector)
    : null;
  compiled = pattern === null
    ? (topic: string) => topic === selector
    : (topic: string) =>
      topic === selector || (!DOT_SEGMENT.test(topic) && pattern(topic));
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(selector, compiled);
  return compiled;
}

/** Compiles a list of selectors into one: it grants a topic when any of them does. */
export function compileSelectors(selectors: readonly string[]): TopicSelector {
  if (selectors.length === 0) return grantsNothing;
  if (selectors.includes("*")) return grantsAll;
  const compiled = selectors.map(compileSelector);
  if (compiled.length === 1) return compiled[0]!;
  return (topic) => compiled.some((selector) => selector(topic));
}
