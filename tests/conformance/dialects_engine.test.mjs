// Tool use in every dialect against a backend that really calls tools: the official
// Anthropic, Google and OpenAI (Responses) clients talk to sovgate, which translates their
// requests to its internal OpenAI request and routes them to a real sovgate-engine on a
// tiny generated model; the engine's grammar-constrained tool calls come back in each
// dialect's own shape (tool_use blocks, functionCall parts, function_call items), streamed
// and not. The runner (./run) passes SOVGATE_ENGINE_URL/SOVGATE_ENGINE_KEY; without an
// engine build these tests are skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';

const url = process.env.SOVGATE_ENGINE_URL;
const apiKey = process.env.SOVGATE_ENGINE_KEY;
const skip = url ? false : 'no engine gateway (SOVGATE_ENGINE_URL unset)';
const root = url ? url.replace(/\/v1\/?$/, '') : '';

const params = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 12 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
  },
  required: ['city', 'unit'],
  additionalProperties: false,
};

function checkArgs(args) {
  assert.deepEqual(Object.keys(args).sort(), ['city', 'unit']);
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit), JSON.stringify(args));
  assert.ok([...args.city].length <= 12, JSON.stringify(args));
}

test('anthropic: tool_use blocks from the engine, streamed and not', { skip }, async () => {
  const client = new Anthropic({ baseURL: root, apiKey, maxRetries: 0, timeout: 60000 });
  const body = {
    model: 'assistant', max_tokens: 120, temperature: 0,
    tools: [{ name: 'get_weather', description: 'Current weather in a city',
              input_schema: params }],
    tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'What is the weather in Bonn?' }],
  };
  const m = await client.messages.create(body);
  assert.equal(m.stop_reason, 'tool_use');
  const use = m.content.find((b) => b.type === 'tool_use');
  assert.ok(use, JSON.stringify(m.content));
  assert.equal(use.name, 'get_weather');
  assert.match(use.id, /^toolu_|^call_/);
  checkArgs(use.input);

  // Streamed: input_json_delta events that the SDK puts back together.
  const stream = client.messages.stream(body);
  const seen = new Set();
  stream.on('streamEvent', (e) => seen.add(e.delta?.type ?? e.type));
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const su = final.content.find((b) => b.type === 'tool_use');
  assert.equal(su.name, 'get_weather');
  assert.deepEqual(su.input, use.input); // temperature 0: greedy, the same call
  assert.ok(seen.has('input_json_delta'), [...seen].join(','));

  // The result goes back as a tool_result block.
  const next = await client.messages.create({
    model: 'assistant', max_tokens: 8,
    messages: [...body.messages, { role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id,
                                  content: '12 degrees and rain' }] }],
  });
  assert.equal(next.content[0].type, 'text');
});

test('gemini: functionCall parts from the engine, streamed and not', { skip }, async () => {
  const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl: root, timeout: 60000 } });
  const req = {
    model: 'assistant',
    contents: 'What is the weather in Bonn?',
    config: {
      maxOutputTokens: 120,
      temperature: 0,
      tools: [{ functionDeclarations: [{ name: 'get_weather',
                                         description: 'Current weather in a city',
                                         parametersJsonSchema: params }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY',
                                             allowedFunctionNames: ['get_weather'] } },
    },
  };
  const r = await ai.models.generateContent(req);
  const calls = r.functionCalls;
  assert.equal(calls?.length, 1, JSON.stringify(r.candidates));
  assert.equal(calls[0].name, 'get_weather');
  checkArgs(calls[0].args);

  const stream = await ai.models.generateContentStream(req);
  const streamed = [];
  for await (const chunk of stream) streamed.push(...(chunk.functionCalls ?? []));
  assert.equal(streamed.length, 1);
  assert.equal(streamed[0].name, 'get_weather');
  checkArgs(streamed[0].args);
});

test('responses: function_call items from the engine, streamed and not', { skip }, async () => {
  const client = new OpenAI({ baseURL: url, apiKey, maxRetries: 0, timeout: 60000 });
  const body = {
    model: 'assistant',
    input: 'What is the weather in Bonn?',
    tools: [{ type: 'function', name: 'get_weather', description: 'Current weather in a city',
              parameters: params, strict: true }],
    tool_choice: 'required',
    max_output_tokens: 120,
  };
  const r = await client.responses.create(body);
  const call = r.output.find((o) => o.type === 'function_call');
  assert.ok(call, JSON.stringify(r.output));
  assert.equal(call.name, 'get_weather');
  checkArgs(JSON.parse(call.arguments));

  const stream = await client.responses.create({ ...body, stream: true });
  let args = '';
  let done = null;
  for await (const e of stream) {
    if (e.type === 'response.function_call_arguments.delta') args += e.delta;
    if (e.type === 'response.function_call_arguments.done') done = e.arguments;
  }
  assert.equal(done, args);
  checkArgs(JSON.parse(done));
});
