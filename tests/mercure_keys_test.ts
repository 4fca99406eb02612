/**
 * Black-box tests of Mercure's key settings over a real server: a
 * publishers' key apart from the subscribers' (an HMAC secret and an ES256 or
 * RS256 public key, each with its own algorithm), on `/.well-known/mercure`
 * and herald's own `/message` and `/events` alike; and several trusted
 * issuers.
 */
import assert from "node:assert/strict";
import { startServer, type TestServer } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";
import { keyPair, mint, SECRET, type TestKeyPair } from "./_tokens.ts";

const HUB = "/.well-known/mercure";
const secretKey = new TextEncoder().encode(SECRET);

async function postForm(
  server: TestServer,
  token: string,
  fields: Record<string, string>,
): Promise<Response> {
  return await fetch(`${server.url}${HUB}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(fields),
  });
}

async function status(response: Response): Promise<number> {
  await response.body?.cancel();
  return response.status;
}

/** Signs with the secret (HS256) or with `pair`. */
function signer(
  key: "secret" | TestKeyPair,
): (grants: { publish?: string[]; subscribe?: string[] }) => Promise<string> {
  return (grants) =>
    key === "secret"
      ? mint(grants)
      : mint(grants, { alg: key.alg }, key.privateKey);
}

for (
  const [label, publisherSide, subscriberSide] of [
    [
      "an HS256 publisher secret and an ES256 subscriber key",
      "secret",
      "ES256",
    ],
    [
      "an RS256 publisher key and an HS256 subscriber secret",
      "RS256",
      "secret",
    ],
  ] as const
) {
  Deno.test(`Mercure's two keys, ${label}: each side's tokens verify only with its own key`, async () => {
    const publisherKey = publisherSide === "secret"
      ? "secret"
      : await keyPair(publisherSide);
    const subscriberKey = subscriberSide === "secret"
      ? "secret"
      : await keyPair(subscriberSide);
    const keyText = (key: "secret" | TestKeyPair) =>
      key === "secret" ? SECRET : key.pem.replaceAll("\n", "\\n");
    await using server = await startServer({
      env: {
        MERCURE_PUBLISHER_JWT_KEY: keyText(publisherKey),
        MERCURE_PUBLISHER_JWT_ALG: publisherSide === "secret"
          ? "HS256"
          : publisherSide,
        MERCURE_SUBSCRIBER_JWT_KEY: keyText(subscriberKey),
        MERCURE_SUBSCRIBER_JWT_ALG: subscriberSide === "secret"
          ? "HS256"
          : subscriberSide,
      },
    });
    const asPublisher = signer(publisherKey);
    const asSubscriber = signer(subscriberKey);
    // A subscriber's token never subscribes with the publishers' key.
    const wrongSide = await fetch(`${server.url}${HUB}?match=/p/1`, {
      headers: {
        authorization: `Bearer ${await asPublisher({ subscribe: ["*"] })}`,
      },
    });
    assert.equal(await status(wrongSide), 401);
    assert.match(
      wrongSide.headers.get("www-authenticate") ?? "",
      /invalid_token/,
    );
    await using reader = await SseClient.open(
      `${server.url}${HUB}?match=/p/1`,
      {
        headers: {
          authorization: `Bearer ${await asSubscriber({
            subscribe: ["/p/1"],
          })}`,
        },
      },
    );
    // ... nor publishes with the subscribers' key.
    assert.equal(
      await status(
        await postForm(server, await asSubscriber({ publish: ["*"] }), {
          topic: "/p/1",
          data: "refused",
        }),
      ),
      401,
    );
    const accepted = await postForm(
      server,
      await asPublisher({ publish: ["/p/1"] }),
      { topic: "/p/1", data: "secret", private: "on", id: "urn:p1" },
    );
    assert.equal(accepted.status, 200, await accepted.text());
    const event = await reader.next(5000);
    assert.deepEqual([event.id, event.data], ["urn:p1", "secret"]);
    // herald's own API splits the same way: /message takes the publishers'
    // key, /events the subscribers'.
    const message = (token: string) =>
      fetch(`${server.url}/message`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ message: "hi", topic: "chat" }),
      });
    assert.equal(
      await status(await message(await asPublisher({ publish: ["chat"] }))),
      202,
    );
    assert.equal(
      await status(await message(await asSubscriber({ publish: ["chat"] }))),
      401,
    );
    const events = (token: string) =>
      fetch(`${server.url}/events?topic=chat`, {
        headers: { authorization: `Bearer ${token}` },
      });
    assert.equal(
      await status(await events(await asSubscriber({ subscribe: ["chat"] }))),
      200,
    );
    assert.equal(
      await status(await events(await asPublisher({ subscribe: ["chat"] }))),
      401,
    );
  });
}

Deno.test("MERCURE_TRUSTED_ISSUERS with several issuers accepts a token of each and refuses any other, or none", async () => {
  await using server = await startServer({
    env: {
      JWT_SECRET: SECRET,
      MERCURE_TRUSTED_ISSUERS: "https://a.example, https://b.example",
    },
  });
  const publish = async (issuer?: string) =>
    await status(
      await postForm(
        server,
        await mint(
          { publish: ["*"] },
          issuer === undefined ? {} : { issuer },
          secretKey,
        ),
        { topic: "/t", data: "x" },
      ),
    );
  assert.equal(await publish("https://a.example"), 200);
  assert.equal(await publish("https://b.example"), 200);
  assert.equal(await publish("https://c.example"), 401);
  assert.equal(await publish(), 401);
});
