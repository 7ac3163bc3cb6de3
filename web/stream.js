// stream.js - reading a streamed response body as it arrives: lines, NDJSON (the /api/pull
// progress events) and server-sent events (the /v1/chat/completions stream). Each is an async
// generator over a ReadableStream of bytes; breaking out of the loop releases the reader.

// Lines of UTF-8 text without their "\n"; the last one even if it has none.
export async function* lines(body) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
                yield buf.slice(0, nl);
                buf = buf.slice(nl + 1);
            }
        }
        buf += dec.decode();
        if (buf) yield buf;
    } finally {
        reader.releaseLock();
    }
}

// One parsed value per line of JSON; blank lines and lines that are not JSON are skipped.
export async function* ndjson(body) {
    for await (const line of lines(body)) {
        if (!line.trim()) continue;
        try {
            yield JSON.parse(line);
        } catch {
            // not a JSON line: ignore
        }
    }
}

// SSE: "data: <json>" lines, events separated by a blank line; comments start with ':'.
// Yields each event's data (its data lines joined by "\n"), unparsed.
export async function* sse(body) {
    let data = [];
    for await (const raw of lines(body)) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') {
            if (data.length) yield data.join('\n');
            data = [];
        } else if (line.startsWith('data:')) {
            data.push(line.slice(5).replace(/^ /, ''));
        }
    }
    if (data.length) yield data.join('\n');
}
