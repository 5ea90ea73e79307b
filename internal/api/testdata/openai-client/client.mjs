// Drives Docent's OpenAI-compatible routes with the official openai client, as a chat front
// end or an SDK user would, and prints what the client saw as one JSON object on stdout.
// internal/api/openai_client_test.go starts the server, runs this and checks the output.
//
// Environment: DOCENT_BASE_URL (the server's URL and /v1), DOCENT_API_KEY, DOCENT_QUESTION
// (one the documents answer), DOCENT_UNANSWERABLE (one they do not).
import OpenAI from 'openai';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const baseURL = env('DOCENT_BASE_URL');
const client = new OpenAI({ baseURL, apiKey: env('DOCENT_API_KEY'), maxRetries: 0, timeout: 60_000 });
const question = env('DOCENT_QUESTION');

// An error as the client raises it.
async function failure(fn) {
  try {
    await fn();
    return null;
  } catch (err) {
    return {
      class: err.constructor.name,
      isAPIError: err instanceof OpenAI.APIError,
      status: err.status ?? null,
      code: err.code ?? null,
      type: err.type ?? null,
      param: err.param ?? null,
      message: err.message,
    };
  }
}

const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
out.model = (await client.models.retrieve('docent')).id;

// The stream first: the completion after it is served from the answer cache, whole.
const stream = await client.chat.completions.create({
  model: 'docent',
  messages: [{ role: 'user', content: [{ type: 'text', text: question }] }],
  stream: true,
  stream_options: { include_usage: true },
});
const streamed = { deltas: [], role: null, sources: null, finish_reason: null, docent: null, usage: null, chunks: 0 };
for await (const chunk of stream) {
  streamed.chunks++;
  if (chunk.usage) streamed.usage = chunk.usage;
  if (chunk.docent?.sources) streamed.sources = chunk.docent.sources;
  const choice = chunk.choices[0];
  if (!choice) continue;
  if (choice.delta.role) streamed.role = choice.delta.role;
  if (choice.delta.content) streamed.deltas.push(choice.delta.content);
  if (choice.finish_reason) {
    streamed.finish_reason = choice.finish_reason;
    streamed.docent = chunk.docent;
  }
}
out.stream = streamed;

const completion = await client.chat.completions.create({
  model: 'docent',
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: question },
  ],
  temperature: 0.2,
  max_tokens: 500,
});
out.completion = {
  id: completion.id,
  object: completion.object,
  model: completion.model,
  role: completion.choices[0].message.role,
  content: completion.choices[0].message.content,
  finish_reason: completion.choices[0].finish_reason,
  usage: completion.usage,
  docent: completion.docent,
};

// The SDK's own accumulation of a stream (ChatCompletionStream), as front ends built on it use.
const runner = client.chat.completions.stream({ model: 'docent', messages: [{ role: 'user', content: question }] });
const final = await runner.finalChatCompletion();
out.accumulated = final.choices[0].message.content;

const refusal = await client.chat.completions.create({
  model: 'docent',
  messages: [{ role: 'user', content: env('DOCENT_UNANSWERABLE') }],
});
out.refusal = { content: refusal.choices[0].message.content, docent: refusal.docent };

out.errors = {
  unknownModel: await failure(() => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: question }] })),
  image: await failure(() =>
    client.chat.completions.create({
      model: 'docent',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
    }),
  ),
  badKey: await failure(() =>
    new OpenAI({ baseURL, apiKey: 'dk_not-a-real-key', maxRetries: 0 }).chat.completions.create({
      model: 'docent',
      messages: [{ role: 'user', content: question }],
    }),
  ),
};

process.stdout.write(JSON.stringify(out) + '\n');
