// Runs the official openai and ollama clients against a local `unhosted serve` node.
// Usage: node api_clients.mjs URL MODEL EXPECTED_TEXT
//   URL: http://127.0.0.1:PORT; EXPECTED_TEXT: `unhosted run MODEL -p "Once upon a time"
//   --temp 0 -n 16` output, which greedy completions through both APIs must equal.
// Prints one "PASS name" / "FAIL name" line per case.
import OpenAI from "openai";
import { Ollama } from "ollama";

const [url, model, want] = process.argv.slice(2);
const prompt = "Once upon a time";
const oai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60000 });
const oll = new Ollama({ host: url });

async function check(name, fn) {
    try {
        await fn();
        console.log(`PASS ${name}`);
    } catch (e) {
        console.log(`FAIL ${name}`);
        console.log(`  ${String(e && e.stack ? e.stack : e).split("\n").slice(0, 4).join("\n  ")}`);
    }
}
function assert(cond, msg) {
    if (!cond) throw new Error(msg);
}
function eq(got, exp, what) {
    assert(got === exp, `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(exp)}`);
}

await check("openai_models_list", async () => {
    const page = await oai.models.list();
    const ids = page.data.map((m) => m.id);
    assert(ids.includes(model), `models: ${ids}`);
    eq(page.data[0].object, "model", "object");
});

let chatText = null;
await check("openai_chat", async () => {
    const r = await oai.chat.completions.create({
        model, messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 12, temperature: 0,
    });
    eq(r.object, "chat.completion", "object");
    eq(r.choices[0].message.role, "assistant", "role");
    eq(r.choices[0].finish_reason, "length", "finish_reason");
    eq(r.usage.completion_tokens, 12, "completion_tokens");
    assert(r.usage.prompt_tokens > 0, "prompt_tokens");
    chatText = r.choices[0].message.content;
    assert(typeof chatText === "string" && chatText.length > 0, "content");
});

await check("openai_chat_stream", async () => {
    const stream = await oai.chat.completions.create({
        model, messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 12, temperature: 0,
        stream: true, stream_options: { include_usage: true },
    });
    let text = "", finish = null, usage = null, n = 0;
    for await (const chunk of stream) {
        n++;
        if (chunk.usage) usage = chunk.usage;
        const c = chunk.choices[0];
        if (!c) continue;
        if (c.delta.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
    }
    assert(n > 2, `chunks ${n}`);
    eq(text, chatText, "streamed text equals the whole answer");
    eq(finish, "length", "finish_reason");
    assert(usage && usage.completion_tokens === 12, `usage ${JSON.stringify(usage)}`);
});

await check("openai_completion_equals_run", async () => {
    const r = await oai.completions.create({ model, prompt, max_tokens: 16, temperature: 0 });
    eq(r.object, "text_completion", "object");
    eq(r.choices[0].text, want, "text");
});

await check("openai_completion_stream", async () => {
    const stream = await oai.completions.create({ model, prompt, max_tokens: 16, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    eq(text, want, "text");
});

await check("openai_chat_logprobs", async () => {
    const r = await oai.chat.completions.create({
        model, messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0,
        logprobs: true, top_logprobs: 2,
    });
    const lp = r.choices[0].logprobs.content;
    eq(lp.length, 3, "entries");
    assert(lp[0].logprob <= 0 && lp[0].top_logprobs.length === 2, JSON.stringify(lp[0]));
});

await check("openai_error_unknown_model", async () => {
    try {
        await oai.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] });
    } catch (e) {
        assert(e instanceof OpenAI.NotFoundError, `error class ${e && e.constructor && e.constructor.name}`);
        eq(e.status, 404, "status");
        eq(e.code, "model_not_found", "code");
        return;
    }
    throw new Error("no error");
});

await check("openai_error_bad_request", async () => {
    try {
        await oai.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], n: 2 });
    } catch (e) {
        assert(e instanceof OpenAI.BadRequestError, `error class ${e && e.constructor && e.constructor.name}`);
        eq(e.param, "n", "param");
        return;
    }
    throw new Error("no error");
});

// The client asks for base64 unless told otherwise and decodes it: the decoded vector must equal
// the float one exactly once read as float32 (the numbers are printed with 9 digits).
let embedding = null;
await check("openai_embeddings", async () => {
    const r = await oai.embeddings.create({ model, input: prompt });
    eq(r.object, "list", "object");
    eq(r.data.length, 1, "entries");
    const v = r.data[0].embedding;
    assert(Array.isArray(v) && v.length > 0, `embedding: ${JSON.stringify(v).slice(0, 80)}`);
    const len = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    assert(Math.abs(len - 1) < 1e-4, `length ${len}`);
    assert(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens, JSON.stringify(r.usage));
    const f = await oai.embeddings.create({ model, input: prompt, encoding_format: "float" });
    eq(JSON.stringify(f.data[0].embedding.map(Math.fround)), JSON.stringify(v), "float equals decoded base64");
    embedding = v;
});

await check("openai_embeddings_batch", async () => {
    const r = await oai.embeddings.create({ model, input: ["Tell me a story", prompt] });
    eq(r.data.length, 2, "entries");
    eq(r.data[1].index, 1, "index");
    eq(JSON.stringify(r.data[1].embedding), JSON.stringify(embedding), "batch entry equals single");
});

await check("openai_embeddings_error", async () => {
    try {
        await oai.embeddings.create({ model, input: prompt, dimensions: 3 });
    } catch (e) {
        assert(e instanceof OpenAI.BadRequestError, `error class ${e && e.constructor && e.constructor.name}`);
        eq(e.param, "dimensions", "param");
        return;
    }
    throw new Error("no error");
});

await check("ollama_list", async () => {
    const r = await oll.list();
    assert(r.models.some((m) => m.name === model), JSON.stringify(r));
});

await check("ollama_show", async () => {
    const r = await oll.show({ model });
    eq(r.details.format, "gguf", "format");
});

await check("ollama_generate_equals_run", async () => {
    const r = await oll.generate({ model, prompt, stream: false, options: { temperature: 0, num_predict: 16 } });
    eq(r.response, want, "response");
    eq(r.done, true, "done");
    eq(r.eval_count, 16, "eval_count");
});

await check("ollama_chat_stream", async () => {
    const stream = await oll.chat({
        model, messages: [{ role: "user", content: "Tell me a story" }], stream: true,
        options: { temperature: 0, num_predict: 12 },
    });
    let text = "", last = null;
    for await (const part of stream) {
        text += part.message.content;
        last = part;
    }
    assert(last && last.done && last.done_reason === "length", JSON.stringify(last));
    eq(text, chatText, "text equals the OpenAI chat answer");
});

await check("ollama_embed", async () => {
    const r = await oll.embed({ model, input: [prompt, "Tell me a story"] });
    eq(r.embeddings.length, 2, "embeddings");
    const v = r.embeddings[0];
    assert(embedding && v.length === embedding.length, `length ${v.length}`);
    assert(v.every((x, i) => Math.fround(x) === embedding[i]), "equals the OpenAI embedding");
});

await check("ollama_error_unknown_model", async () => {
    try {
        await oll.generate({ model: "no-such-model", prompt: "x", stream: false });
    } catch (e) {
        eq(e.status_code, 404, "status_code");
        return;
    }
    throw new Error("no error");
});
