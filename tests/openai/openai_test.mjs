// The official `openai` npm client against `cascade serve`, as a new user
// would call it. Usage: node openai_test.mjs CASCADE_BIN MODEL [SERVE FLAGS...]
// Starts `cascade serve` with the flags on a free port, checks models.list,
// completions and chat (plain and streamed), stop, logprobs, n = 2 with a
// seed, a 400 for a bad field and a 404 for an unknown model; the texts must
// equal `cascade generate`'s for the same settings. Exit 0 when all pass.
import { execFileSync, spawn } from "node:child_process";
import assert from "node:assert/strict";
import OpenAI from "openai";

const [bin, model, ...flags] = process.argv.slice(2);
const port = 20000 + Math.floor(Math.random() * 20000);
const serve = spawn(bin, ["serve", "-m", model, "--listen", `127.0.0.1:${port}`, "--alias", "tiny", ...flags], {
  stdio: ["ignore", "inherit", "pipe"],
});
let serveLog = "";
serve.stderr.on("data", (d) => (serveLog += d));
const base = `http://127.0.0.1:${port}`;
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });

// What `cascade generate` prints after the prompt (it echoes the prompt, ends with "\n").
function generate(prompt, n, temperature = 0, seed = 0) {
  const out = execFileSync(bin, ["generate", "-m", model, "-p", prompt, "-n", String(n), "-t", String(temperature),
                                 "-s", String(seed)], { stdio: ["ignore", "pipe", "ignore"] }).toString();
  return out.slice(prompt.length, -1);
}

async function waitHealthy() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/health`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("cascade serve did not become healthy:\n" + serveLog);
}

async function main() {
  await waitHealthy();
  const prompt = "Once upon a time";
  const want = generate(prompt, 24);

  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["tiny"]);

  const c = await client.completions.create({ model: "tiny", prompt, max_tokens: 24, temperature: 0 });
  assert.equal(c.choices[0].text, want);
  assert.equal(c.model, "tiny");
  assert.equal(c.usage.completion_tokens, 24);

  let streamed = "";
  for await (const ev of await client.completions.create({ model: "tiny", prompt, max_tokens: 24, temperature: 0, stream: true }))
    streamed += ev.choices[0]?.text ?? "";
  assert.equal(streamed, want);

  // Chat: a llama2.c model's plain template is the contents joined by "\n".
  const chat = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: prompt }], max_tokens: 24, temperature: 0 });
  assert.equal(chat.choices[0].message.content, want);
  assert.equal(chat.choices[0].finish_reason, "length");
  assert.match(chat.id, /^chatcmpl-/);

  streamed = "";
  for await (const ev of await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: prompt }], max_tokens: 24, temperature: 0, stream: true }))
    streamed += ev.choices[0]?.delta?.content ?? "";
  assert.equal(streamed, want);

  // stop: the text up to the stop string, finish_reason "stop".
  const stop = "Lily";
  assert.ok(want.includes(stop), want);
  const s = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: prompt }], max_tokens: 24, temperature: 0, stop: [stop] });
  assert.equal(s.choices[0].message.content, want.slice(0, want.indexOf(stop)));
  assert.equal(s.choices[0].finish_reason, "stop");

  // logprobs: one entry per token, the greedy token the most likely.
  const lp = await client.chat.completions.create({
    model: "tiny", messages: [{ role: "user", content: prompt }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, 8);
  assert.equal(content.map((t) => t.token).join(""), lp.choices[0].message.content);
  for (const t of content) assert.equal(t.logprob, t.top_logprobs[0].logprob);

  // n = 2 with a seed: choice i samples with seed + i, as `cascade generate -s`.
  const n2 = await client.completions.create({ model: "tiny", prompt, max_tokens: 24, temperature: 1, seed: 7, n: 2 });
  assert.equal(n2.choices.length, 2);
  assert.equal(n2.choices[0].text, generate(prompt, 24, 1, 7));
  assert.equal(n2.choices[1].text, generate(prompt, 24, 1, 8));

  // A bad field: 400 in OpenAI's shape.
  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x" }], temperature: 7 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "temperature");
  await assert.rejects(
    client.completions.create({ model: "tiny", prompt: "x", suffix: "y" }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "suffix");
  // An unknown model: 404.
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found");
  console.log(`openai client: all checks passed (${flags.join(" ") || "plaintext"})`);
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(e);
  console.error("--- cascade serve log ---\n" + serveLog);
  code = 1;
}
serve.kill("SIGTERM");
await new Promise((r) => serve.on("exit", r));
process.exit(code);
