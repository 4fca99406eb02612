/**
 * @module Mercure subscriptions (an optional feature, `MERCURE_SUBSCRIPTIONS=1`):
 * the private update a hub publishes when a stream opens or ends, one per
 * selector, on `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`
 * with type `mercure`; and the index of active subscriptions that every
 * instance builds from those updates, which the subscriptions API answers
 * from. Web-only.
 */
import type { MatchType, MercureSelector } from "./selector.ts";
import type { MercureUpdate, ReceivedUpdate } from "./update.ts";

/** Where subscriptions live. */
export const SUBSCRIPTIONS_PATH = "/.well-known/mercure/subscriptions";

/** The `type` of subscription updates (reserved to the hub). */
export const SUBSCRIPTION_TYPE = "mercure";

/** One subscription, as its update and the API show it. */
export interface Subscription {
  /** Its IRI (the topic of its updates). */
  readonly id: string;
  readonly type: "subscription";
  /** `exact`, `urlpattern` or `uritemplate` (the older `topic=`). */
  readonly match_type: string;
  /** The selector's text. */
  readonly match: string;
  /** The stream's id (`urn:uuid:…`). */
  readonly subscriber: string;
  /** Whether the stream is still open. */
  readonly active: boolean;
  /** The token's payload, when it had one. */
  readonly payload?: unknown;
}

const MATCH_TYPES: Readonly<Record<MatchType, string>> = {
  exact: "exact",
  urlpattern: "urlpattern",
  template: "uritemplate",
};

/** The topic (and id) of one selector's subscription. */
export function subscriptionId(
  matchType: string,
  match: string,
  subscriber: string,
): string {
  return [matchType, match, subscriber].reduce(
    (path, part) => `${path}/${encodeURIComponent(part)}`,
    SUBSCRIPTIONS_PATH,
  );
}

/** The updates that say a stream's selectors became active or inactive. */
export function subscriptionUpdates(
  selectors: readonly MercureSelector[],
  subscriber: string,
  payload: unknown,
  active: boolean,
): MercureUpdate[] {
  return selectors.map((selector) => {
    const matchType = MATCH_TYPES[selector.type];
    const id = subscriptionId(matchType, selector.match, subscriber);
    const subscription: Subscription = {
      id,
      type: "subscription",
      match_type: matchType,
      match: selector.match,
      subscriber,
      active,
      ...(payload === null || payload === undefined ? {} : { payload }),
    };
    return {
      topics: [id],
      data: JSON.stringify(subscription),
      id: null,
      type: SUBSCRIPTION_TYPE,
      retry: null,
      private: true,
    };
  });
}

/** The active subscriptions of the hub, as seen from this instance's bus. */
export class SubscriptionIndex {
  readonly #active = new Map<string, Subscription>();

  /** Takes note of a subscription update; ignores every other update. */
  apply(update: ReceivedUpdate): void {
    const topic = update.topics[0];
    if (
      update.type !== SUBSCRIPTION_TYPE || topic === undefined ||
      !topic.startsWith(`${SUBSCRIPTIONS_PATH}/`)
    ) return;
    let subscription: Subscription;
    try {
      subscription = JSON.parse(update.data);
    } catch {
      return;
    }
    if (subscription.active) this.#active.set(topic, subscription);
    else this.#active.delete(topic);
  }

  /** The active subscriptions whose id is `prefix` or under it. */
  list(prefix: string = SUBSCRIPTIONS_PATH): Subscription[] {
    const under = `${prefix}/`;
    return [...this.#active.values()].filter((s) =>
      s.id === prefix || s.id.startsWith(under)
    );
  }
}
