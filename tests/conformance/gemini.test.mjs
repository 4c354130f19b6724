// Conformance with Google's official `@google/genai` npm client (pinned in package.json),
// pointed at sovgate by base URL (httpOptions.baseUrl): the gateway answers the Gemini API
// (generateContent, streamGenerateContent with alt=sse, embedContent, models) by
// translating it to its internal OpenAI request and back. Same runner and environment as
// openai.test.mjs; "assistant" and "embed" are route names the runner configures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GoogleGenAI } from '@google/genai';

const baseUrl = process.env.SOVGATE_URL.replace(/\/v1\/?$/, '');
const ai = new GoogleGenAI({ apiKey: process.env.SOVGATE_KEY, httpOptions: { baseUrl,
                                                                             timeout: 20000 } });

test('generateContent', async () => {
  const r = await ai.models.generateContent({
    model: 'assistant',
    contents: 'Hello shop',
    config: { systemInstruction: 'Be brief.', temperature: 0.2, maxOutputTokens: 64 },
  });
  assert.equal(r.text, '[up1] Hello shop');
  assert.equal(r.candidates[0].finishReason, 'STOP');
  assert.ok(r.usageMetadata.candidatesTokenCount > 0);
  assert.equal(r.modelVersion, 'assistant');
});

test('generateContentStream (SSE chunks, text accumulated)', async () => {
  const stream = await ai.models.generateContentStream({
    model: 'assistant',
    contents: [{ role: 'user', parts: [{ text: 'one two three [[fake:split=7]]' }] }],
  });
  let text = '';
  let chunks = 0;
  let last;
  for await (const c of stream) {
    text += c.text ?? '';
    chunks++;
    last = c;
  }
  assert.equal(text, '[up1] one two three');
  assert.ok(chunks >= 3, `${chunks} chunks`);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  assert.ok(last.usageMetadata.totalTokenCount > 0);
});

test('function declarations and a function call history are accepted', async () => {
  const r = await ai.models.generateContent({
    model: 'assistant',
    contents: [
      { role: 'user', parts: [{ text: 'Where is order 7?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { order: 7 } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'lookup',
                                                    response: { status: 'shipped' } } },
                              { text: 'Thanks' }] },
    ],
    config: { tools: [{ functionDeclarations: [{ name: 'lookup', description: 'Find',
                                                 parameters: { type: 'OBJECT', properties: {
                                                   order: { type: 'INTEGER' } } } }] }] },
  });
  assert.equal(r.text, '[up1] Thanks');
});

test('embedContent', async () => {
  const r = await ai.models.embedContent({ model: 'embed', contents: 'hello' });
  assert.ok(r.embeddings[0].values.length > 0);
});

test('errors come in the Gemini shape', async () => {
  await assert.rejects(
    ai.models.generateContent({ model: 'no-such-model', contents: 'x' }),
    (err) => err.status === 404 && /does not exist/.test(err.message));
  const bad = new GoogleGenAI({ apiKey: 'sg-wrong', httpOptions: { baseUrl } });
  await assert.rejects(bad.models.generateContent({ model: 'assistant', contents: 'x' }),
                       (err) => err.status === 401 && /UNAUTHENTICATED/.test(err.message));
  await assert.rejects(ai.models.countTokens({ model: 'assistant', contents: 'x' }),
                       (err) => err.status === 501 && /not served/.test(err.message));
});
