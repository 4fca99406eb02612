/**
 * TLS_CERT_FILE and TLS_KEY_FILE over the real process: HTTPS with HTTP/2 by
 * ALPN, and more than six streams from one Chromium page (past HTTP/1.1's
 * six connections per site) all receive. The certificate is made in the
 * test with openssl.
 */
import assert from "node:assert/strict";
import { launchBrowser } from "./_browser.ts";
import { startCaddy } from "./_caddy.ts";
import { startNginx } from "./_nginx.ts";
import { freePort, spawnTask, startHerald } from "./_process.ts";
import { eventually } from "./_server.ts";

const STREAMS = 10;

async function selfSigned(dir: string): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const output = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdin: "null",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return { cert, key };
}

/** Opens STREAMS EventSources on one Chromium page of `base`, over HTTP/2, and publishes to all. */
async function assertStreamsOverH2(base: string): Promise<void> {
  const browser = await launchBrowser({ ignoreHTTPSErrors: true });
  try {
    const { page, problems } = await browser.newPage();
    await page.goto(`${base}/healthz`);
    const protocol = await page.evaluate(() =>
      (performance.getEntriesByType(
        "navigation",
      )[0] as unknown as { nextHopProtocol: string }).nextHopProtocol
    );
    assert.equal(protocol, "h2");
    const received = await page.evaluate(async (streams: number) => {
      const sources: EventSource[] = [];
      const got = new Set<number>();
      await Promise.all(
        Array.from(
          { length: streams },
          (_, i) =>
            new Promise<void>((resolve, reject) => {
              const source = new EventSource(`/events?topic=h2`);
              sources.push(source);
              source.addEventListener("open", () => resolve());
              source.addEventListener(
                "error",
                () => reject(new Error(`stream ${i} failed`)),
              );
              source.addEventListener("chat", (event) => {
                if ((event as MessageEvent).data.includes("over h2")) {
                  got.add(i);
                }
              });
            }),
        ),
      );
      // Over HTTP/1.1 this request would wait behind six open streams.
      const response = await fetch("/message", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "h2", message: "over h2" }),
      });
      if (response.status !== 202) {
        throw new Error(`publish: ${response.status}`);
      }
      const deadline = Date.now() + 10_000;
      while (got.size < streams && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const source of sources) source.close();
      return got.size;
    }, STREAMS);
    assert.equal(received, STREAMS);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

Deno.test("TLS_CERT_FILE serves HTTP/2, and ten streams of one Chromium page all receive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald_tls_" });
  try {
    const { cert, key } = await selfSigned(dir);
    const port = freePort();
    await using task = spawnTask(["start"], {
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      TLS_CERT_FILE: cert,
      TLS_KEY_FILE: key,
      UPDATE_INTERVAL_MS: "0",
      HEARTBEAT_MS: "0",
    });
    const base = `https://127.0.0.1:${port}`;
    try {
      await eventually(
        () => task.output().includes(`Listening on ${base}/`),
        15_000,
        "the TLS listener",
      );
      assert.match(
        task.output(),
        new RegExp(`serving ${base}/ \\(TLS, HTTP/2`),
      );
      await assertStreamsOverH2(base);
    } finally {
      task.child.kill("SIGTERM");
      await task.child.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's nginx HTTP/2 proxy gives ten streams of one Chromium page in front of plain herald", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald_tls_" });
  try {
    const tls = await selfSigned(dir);
    await using herald = await startHerald();
    await using nginx = await startNginx([herald.port], { tls });
    await assertStreamsOverH2(nginx.url);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's Caddyfile gives ten streams of one Chromium page over HTTP/2 in front of plain herald", async () => {
  const dir = await Deno.makeTempDir({ prefix: "herald_tls_" });
  try {
    const tls = await selfSigned(dir);
    await using herald = await startHerald();
    await using caddy = await startCaddy(herald.port, tls);
    await assertStreamsOverH2(caddy.url);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
