// Conformance with the official `@anthropic-ai/sdk` npm client (pinned in package.json):
// the gateway answers Anthropic Messages requests (translated to its internal OpenAI
// request and back), streaming and tool use included. Same runner and environment as
// openai.test.mjs; "assistant" is a route name the runner configures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.SOVGATE_URL.replace(/\/v1\/?$/, '');
const client = new Anthropic({ baseURL, apiKey: process.env.SOVGATE_KEY, maxRetries: 0,
                               timeout: 20000 });

test('messages, non-streaming', async () => {
  const m = await client.messages.create({
    model: 'assistant', max_tokens: 64, system: 'Be brief.',
    messages: [{ role: 'user', content: 'Hello shop' }],
  });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, 'assistant');
  assert.deepEqual(m.content, [{ type: 'text', text: '[up1] Hello shop' }]);
  assert.equal(m.stop_reason, 'end_turn');
  assert.ok(m.usage.output_tokens > 0);
});

test('messages, streaming (typed events, text accumulated by the SDK)', async () => {
  const stream = client.messages.stream({
    model: 'assistant', max_tokens: 64,
    messages: [{ role: 'user', content: 'one two three [[fake:split=7]]' }],
  });
  const seen = new Set();
  stream.on('streamEvent', (e) => seen.add(e.type));
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, '[up1] one two three');
  assert.equal(final.stop_reason, 'end_turn');
  for (const t of ['message_start', 'content_block_start', 'content_block_delta',
                   'content_block_stop', 'message_delta', 'message_stop'])
    assert.ok(seen.has(t), t);
});

test('tool use history and tool results are accepted', async () => {
  const m = await client.messages.create({
    model: 'assistant', max_tokens: 64,
    tools: [{ name: 'lookup', description: 'Find', input_schema: { type: 'object' } }],
    messages: [
      { role: 'user', content: 'Where is order 7?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'lookup',
                                       input: { order: 7 } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1',
                                  content: 'shipped' }, { type: 'text', text: 'Thanks' }] },
    ],
  });
  assert.equal(m.content[0].text, '[up1] Thanks');
});

test('errors come in the Anthropic shape', async () => {
  await assert.rejects(
    client.messages.create({ model: 'no-such-model', max_tokens: 5,
                             messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 404 && err.error?.error?.type === 'not_found_error');
  const bad = new Anthropic({ baseURL, apiKey: 'sg-wrong', maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: 'assistant', max_tokens: 5,
                          messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 401 && err.error?.error?.type === 'authentication_error');
});
