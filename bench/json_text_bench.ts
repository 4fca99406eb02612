/**
 * The cost of jsonText() (lib/json_text.ts) against plain JSON.stringify, on
 * event data as herald builds it: once per published event, never per
 * subscriber. `deno bench bench/json_text_bench.ts`.
 */
import { jsonText } from "../lib/json_text.ts";

const CASES = {
  "short text": "Anyone up for a review of the replay change?",
  "short markup": "<b>Deploy</b> & <i>rollback</i> at <a href=x>1.4.2</a>",
  "60 KB text": "a".repeat(60_000),
  "60 KB markup": "<b>x</b> ".repeat(6_600),
  "64 KB of <": "<".repeat(64_000),
  "64 KB of NUL": "\0".repeat(64_000),
};

for (const [name, message] of Object.entries(CASES)) {
  const data = {
    message,
    topic: "chat",
    timestamp: "2026-12-02T00:00:00.000Z",
  };
  Deno.bench(`JSON.stringify: ${name}`, { group: name, baseline: true }, () => {
    JSON.stringify(data);
  });
  Deno.bench(`jsonText: ${name}`, { group: name }, () => {
    jsonText(data);
  });
}
