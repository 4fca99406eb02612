/**
 * @module Mercure topic selectors, as a subscriber asks for them and as a
 * token grants them: `*` (every topic), an exact topic, a URL Pattern
 * resolved against the hub URL (draft-08 `match_urlpattern`), or, in the
 * older dialect, an exact topic or an RFC 6570 URI template. Compiled once
 * per stream or token, never per event. Web-only.
 */
import { compileSelector } from "../auth/topic_selector.ts";
import { compileUriTemplate } from "./uri_template.ts";

/** How a selector's text is read. */
export type MatchType = "exact" | "urlpattern" | "template";

/** One selector: its text and how to read it. */
export interface MercureSelector {
  /** The selector's text; `*` matches every topic. */
  readonly match: string;
  /** How the text is read. */
  readonly type: MatchType;
}

/** A compiled selector: whether it matches `topic`. */
export type TopicMatcher = (topic: string) => boolean;

/** Raised for a selector that cannot be compiled (a bad URL Pattern); the route answers 400. */
export class SelectorError extends Error {
  /** Makes the error; `message` names the selector. */
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

const matchAll: TopicMatcher = () => true;
const matchNone: TopicMatcher = () => false;

/** Options for {@linkcode compileMercureSelector}. */
export interface SelectorOptions {
  /**
   * Refuse URL Patterns with regular-expression groups (`/(a+)+/`): a
   * subscriber's query could make every update cost exponential time. Token
   * grants come from a trusted issuer and may use them.
   *
   * @default {false}
   */
  untrusted?: boolean;
}

/**
 * Compiles one selector; URL Patterns resolve against `base` (the hub URL).
 * An older-dialect selector also matches the way herald's own grants do
 * (lib/auth/topic_selector.ts), so one token works on both endpoints.
 *
 * @throws {SelectorError} when a `urlpattern` selector is not a valid
 * pattern, or has regular-expression groups and `untrusted` is set
 */
export function compileMercureSelector(
  selector: MercureSelector,
  base: string,
  options: SelectorOptions = {},
): TopicMatcher {
  const { match, type } = selector;
  if (match === "*") return matchAll;
  if (type === "exact") return (topic) => topic === match;
  if (type === "urlpattern") {
    let pattern: URLPattern;
    try {
      pattern = new URLPattern(match, base);
    } catch {
      throw new SelectorError(
        `Cannot use selector ${JSON.stringify(match)}: it is not a URL Pattern`,
      );
    }
    if (options.untrusted === true && pattern.hasRegExpGroups) {
      throw new SelectorError(
        `Cannot use selector ${
          JSON.stringify(match)
        }: regular-expression groups are not accepted in a subscription`,
      );
    }
    return (topic) => {
      try {
        return topic === match || pattern.test(topic, base);
      } catch {
        return false;
      }
    };
  }
  const template = compileUriTemplate(match);
  const herald = compileSelector(match);
  return template === null
    ? herald
    : (topic) => template(topic) || herald(topic);
}

/** Compiles selectors into one matcher: it matches when any of them does. */
export function compileMercureSelectors(
  selectors: readonly MercureSelector[],
  base: string,
  options: SelectorOptions = {},
): TopicMatcher {
  if (selectors.length === 0) return matchNone;
  const compiled = selectors.map((s) =>
    compileMercureSelector(s, base, options)
  );
  if (compiled.length === 1) return compiled[0]!;
  return (topic) => compiled.some((matcher) => matcher(topic));
}
