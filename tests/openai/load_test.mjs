// Load test of `cascade serve` on loopback: C clients send completions back
// to back for S seconds (half of them streamed) while /health is polled every
// 100 ms. Usage: node load_test.mjs CASCADE_BIN MODEL SECONDS CLIENTS [SERVE FLAGS...]
// Prints one JSON line: statuses, throughput, latency percentiles, the
// slowest /health. Exit 1 when any request fails other than with 429, or
// /health ever took 100 ms or more.
import { spawn } from "node:child_process";
import { Worker } from "node:worker_threads";

const [bin, model, seconds, clients, ...flags] = process.argv.slice(2);
const port = 20000 + Math.floor(Math.random() * 20000);
const serve = spawn(bin, ["serve", "-m", model, "--listen", `127.0.0.1:${port}`, "--quiet", ...flags],
                    { stdio: ["ignore", "inherit", "inherit"] });
const base = `http://127.0.0.1:${port}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/health`)).status === 200) break; } catch {}
  if (i > 600) throw new Error("serve did not start");
  await sleep(100);
}

const end = Date.now() + Number(seconds) * 1000;
const statuses = {};
const latencies = [];  // ms per successful request
let tokens = 0;
const health = [];

async function client(k) {
  let i = 0;
  while (Date.now() < end) {
    const stream = (k + i++) % 2 === 1;
    const t0 = performance.now();
    let status = "error";
    try {
      const r = await fetch(`${base}/v1/completions`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 64, temperature: 0.8, seed: i, stream }),
      });
      status = r.status;
      const body = await r.text();
      if (r.status === 200) {
        if (stream) {
          if (!body.includes("data: [DONE]")) status = "no [DONE]";
          tokens += (body.match(/"text":"/g) || []).length;  // pieces, close to tokens
        } else {
          tokens += JSON.parse(body).usage.completion_tokens;
        }
        latencies.push(performance.now() - t0);
      } else if (r.status === 429) {
        await sleep(50);
      }
    } catch (e) {
      status = "error: " + e.message;
    }
    statuses[status] = (statuses[status] || 0) + 1;
  }
}

// /health is polled from a worker thread with its own event loop, so the
// clients' work in this one does not delay reading its answers.
const pollerCode = `
const { parentPort, workerData } = require("node:worker_threads");
const health = [];
let running = true;
parentPort.on("message", () => (running = false));
(async () => {
  while (running) {
    const t0 = performance.now();
    let ms = Infinity;
    try {
      const r = await fetch(workerData + "/health");
      await r.text();
      if (r.status === 200) ms = performance.now() - t0;
    } catch {}
    health.push(ms);
    await new Promise((r) => setTimeout(r, 100));
  }
  parentPort.postMessage(health);
})();`;
const worker = new Worker(pollerCode, { eval: true, workerData: base });
const poller = new Promise((r) => worker.once("message", r));
const t0 = Date.now();
await Promise.all([...Array(Number(clients)).keys()].map(client));
worker.postMessage("stop");
health.push(...(await poller));
await worker.terminate();
const wall = (Date.now() - t0) / 1000;
serve.kill("SIGTERM");

latencies.sort((a, b) => a - b);
const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
health.sort((a, b) => a - b);
const hp = (p) => health[Math.min(health.length - 1, Math.floor((p / 100) * health.length))];
const result = {
  clients: Number(clients), seconds: wall, flags: flags.join(" "), statuses,
  ok_per_second: +(latencies.length / wall).toFixed(1), tokens_per_second: Math.round(tokens / wall),
  latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99), max: Math.round(latencies.at(-1)) },
  health_polls: health.length,
  health_ms: { p50: +hp(50).toFixed(1), p99: +hp(99).toFixed(1), max: +Math.max(...health).toFixed(1) },
};
console.log(JSON.stringify(result));
const bad = Object.keys(statuses).filter((s) => s !== "200" && s !== "429");
process.exit(bad.length === 0 && result.health_ms.max < 100 ? 0 : 1);
