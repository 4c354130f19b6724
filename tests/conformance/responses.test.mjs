// Conformance of the OpenAI Responses dialect with the official `openai` npm client (pinned in
// package.json): responses.create streaming and not, the stream helper, previous_response_id,
// retrieve/delete, structured output with text.format json_schema, and the errors the client
// raises. The runner (./run) starts the gateway in front of the fake upstream, which echoes
// the last user message as "[up1] <text>", and passes SOVGATE_URL and SOVGATE_KEY.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.SOVGATE_URL,
  apiKey: process.env.SOVGATE_KEY,
  maxRetries: 0,
  timeout: 20000,
});
const EMAIL = 'anna.schmidt@example.de';

test('responses.create, non-streaming (output_text convenience)', async () => {
  const r = await client.responses.create({
    model: 'gpt-4o-mini',
    instructions: 'Be brief.',
    input: `Write to ${EMAIL}`,
  });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'completed');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.equal(r.output_text, `[up1] Write to ${EMAIL}`);
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
});

test('responses.create, streaming typed events', async () => {
  const stream = await client.responses.create({
    model: 'assistant',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'one two three [[fake:split=4]]' }] },
    ],
    stream: true,
  });
  const types = [];
  let text = '';
  let final = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') final = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(text, '[up1] one two three');
  assert.equal(final.status, 'completed');
  assert.equal(final.output[0].content[0].text, text);
});

test('responses.stream helper and finalResponse()', async () => {
  const stream = client.responses.stream({ model: 'assistant', input: `stream to ${EMAIL}` });
  let deltas = '';
  stream.on('response.output_text.delta', (ev) => {
    deltas += ev.delta;
  });
  const final = await stream.finalResponse();
  // (this client version adds output_text only to non-streamed responses)
  assert.equal(final.status, 'completed');
  assert.equal(final.output[0].content[0].text, `[up1] stream to ${EMAIL}`);
  assert.equal(deltas, final.output[0].content[0].text);
});

test('previous_response_id continues the conversation; retrieve and delete', async () => {
  const first = await client.responses.create({ model: 'assistant', input: `I am ${EMAIL}` });
  const second = await client.responses.create({
    model: 'assistant',
    previous_response_id: first.id,
    input: 'And now?',
  });
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output_text, '[up1] And now?');
  const got = await client.responses.retrieve(first.id);
  assert.equal(got.id, first.id);
  assert.equal(got.output_text, `[up1] I am ${EMAIL}`);
  await client.responses.delete(first.id);
  await assert.rejects(client.responses.retrieve(first.id), (e) => e.status === 404);
  await assert.rejects(
    client.responses.create({ model: 'assistant', previous_response_id: first.id, input: 'x' }),
    (e) => e.status === 400 && /not found/.test(e.message),
  );
});

test('structured output: text.format json_schema (as response_format upstream)', async () => {
  // The fake upstream echoes the prompt, so the prompt is the JSON the schema describes.
  const r = await client.responses.create({
    model: 'assistant',
    input: '{"ok": true}',
    text: {
      format: {
        type: 'json_schema',
        name: 'answer',
        strict: true,
        schema: {
          type: 'object',
          properties: { ok: { type: 'boolean' } },
          required: ['ok'],
          additionalProperties: false,
        },
      },
    },
  });
  assert.equal(r.text.format.type, 'json_schema');
  assert.equal(r.text.format.name, 'answer');
  assert.equal(r.output_text, '[up1] {"ok": true}');
});

test('errors the client raises: built-in tools, bad ids, unknown model', async () => {
  await assert.rejects(
    client.responses.create({ model: 'assistant', input: 'x', tools: [{ type: 'web_search' }] }),
    (e) => e.status === 400 && e.param === 'tools[0]' && /web_search/.test(e.message),
  );
  await assert.rejects(
    client.responses.create({ model: 'assistant', input: 'x', previous_response_id: 'resp_nope' }),
    (e) => e.status === 400 && e.code === 'previous_response_not_found',
  );
  await assert.rejects(
    client.responses.create({ model: 'no-such-model', input: 'x' }),
    (e) => e.status === 404,
  );
});
