// The usual tutorial SSE broadcaster on Node's `http` module, written for the
// herald benchmark as a baseline: a Set of responses and one `res.write` per
// client per message. No ids, history, topics, heartbeats or limits.
// Run: PORT=8191 node bench/peers/naive_node.mjs
import http from "node:http";

const clients = new Set();

const server = http.createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/events") {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "Connection": "keep-alive",
    });
    res.write("retry: 5000\n\n");
    clients.add(res);
    req.on("close", () => clients.delete(res));
    return;
  }
  if (req.method === "POST" && path === "/message") {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => body += chunk);
    req.on("end", () => {
      let parsed;
      try {
        parsed = JSON.parse(body);
      } catch {
        res.writeHead(400, { "Content-Type": "application/json" });
        res.end('{"error":"bad json"}');
        return;
      }
      const data = JSON.stringify({
        message: parsed.message,
        timestamp: Date.now(),
      });
      const frame = `event: chat\ndata: ${data}\n\n`;
      for (const client of clients) client.write(frame);
      const answer = JSON.stringify({ clients: clients.size });
      res.writeHead(202, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(answer),
      });
      res.end(answer);
    });
    return;
  }
  if (req.method === "GET" && path === "/stats") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ clients: clients.size, isolates: 1 }));
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(
  Number(process.env.PORT ?? 8000),
  process.env.HOSTNAME ?? "127.0.0.1",
);
