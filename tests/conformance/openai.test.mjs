// Conformance with the official `openai` npm client (pinned in package.json), pointed at a
// running sovgate by base URL. The runner (./run) starts the gateway in front of the fake
// upstream and passes SOVGATE_URL, SOVGATE_KEY and NODE_EXTRA_CA_CERTS (the test CA).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const baseURL = process.env.SOVGATE_URL;
const apiKey = process.env.SOVGATE_KEY;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });

test('chat completion, non-streaming', async () => {
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello shop' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.equal(r.choices[0].message.content, '[up1] Hello shop');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.total_tokens > 0);
});

test('chat completion, streaming with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'assistant',
    messages: [{ role: 'user', content: 'one two three [[fake:split=5]]' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, '[up1] one two three');
  assert.equal(finish, 'stop');
  assert.equal(usage.completion_tokens, 4);
});

test('chat stream helper (runner API)', async () => {
  const runner = client.chat.completions.stream({
    model: 'assistant',
    messages: [{ role: 'user', content: 'streamed helper' }],
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, '[up1] streamed helper');
});

test('legacy completions', async () => {
  const r = await client.completions.create({ model: 'assistant', prompt: 'Say hi' });
  assert.equal(r.choices[0].text, '[up1] Say hi');
  const s = await client.completions.create({ model: 'assistant', prompt: 'a b', stream: true });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, '[up1] a b');
});

test('embeddings (the client asks for base64 by default)', async () => {
  const r = await client.embeddings.create({ model: 'embed', input: ['red shoes', 'blue hat'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 8);
  assert.ok(r.data[0].embedding.every((x) => typeof x === 'number'));
  const f = await client.embeddings.create({ model: 'embed', input: 'red shoes', encoding_format: 'float' });
  // base64 carries float32: equal to the float form within float32 precision.
  f.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - r.data[0].embedding[i]) < 1e-6));
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('assistant'));
  assert.ok(ids.includes('gpt-4o-mini'));
});

test('typed errors: 401, 404, 400, 429, 503', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'sg-not-a-key', maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(
    client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 5 }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages[0].content');
  await assert.rejects(
    client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x [[fake:status=429]]' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429);
  await assert.rejects(
    client.chat.completions.create({ model: 'down', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503 && e.code === 'backend_unavailable');
});

test('a stream that breaks mid-way raises an APIError in the client', async () => {
  const stream = await client.chat.completions.create({
    model: 'assistant',
    messages: [{ role: 'user', content: 'a b c d e [[fake:disconnect_after=3]]' }],
    stream: true,
  });
  await assert.rejects(async () => {
    for await (const chunk of stream) void chunk;
  }, (e) => e instanceof OpenAI.APIError);
});

test('Azure OpenAI client: deployments map to routes', async () => {
  const { AzureOpenAI } = await import('openai');
  const azure = new AzureOpenAI({ endpoint: baseURL.replace(/\/v1\/?$/, ''), apiKey,
                                  apiVersion: '2024-10-21', deployment: 'gpt-4o-mini',
                                  maxRetries: 0, timeout: 20000 });
  const r = await azure.chat.completions.create({
    model: 'ignored-the-deployment-decides',
    messages: [{ role: 'user', content: 'Hello Azure' }],
  });
  assert.equal(r.choices[0].message.content, '[up1] Hello Azure');
});
