// chat.js - the Chat view: a multi-turn conversation streamed from /v1/chat/completions (SSE,
// with stream_options.include_usage), Stop, New chat, and under each answer who served it
// (X-Unhosted-Served-By), tokens, tokens/s and time.
//
// Model output is untrusted: md.js parses it into plain objects and renderBlock/renderInline
// build the answer from a fixed set of elements, with text only as text nodes.
import { api, failure, setConn } from './api.js';
import { recordSpeed } from './cluster.js';
import { $, h } from './dom.js';
import { peerName, peers, shortId, thisDevice } from './devices.js';
import { parseMarkdown } from './md.js';
import { sse } from './stream.js';

let messages = []; // {role, content, el, body, meta, failed, error}
let busy = false;
let abort = null; // AbortController of the answer streaming now

function renderMarkdown(text) {
    const frag = document.createDocumentFragment();
    for (const b of parseMarkdown(text)) frag.append(renderBlock(b));
    return frag;
}

function renderBlock(b) {
    switch (b.t) {
    case 'h': return h(`h${Math.min(6, Math.max(3, b.level + 2))}`, { class: 'md-h' }, renderInline(b.inl));
    case 'code': {
        const code = h('code', b.lang ? { 'data-lang': b.lang } : {});
        code.textContent = b.text;
        const copy = h('button', { type: 'button', class: 'copy small-button secondary' }, 'Copy');
        copy.addEventListener('click', () => {
            navigator.clipboard?.writeText(b.text).then(() => { copy.textContent = 'Copied'; }, () => {});
        });
        return h('div', { class: 'codeblock' }, b.lang ? h('span', { class: 'lang' }, b.lang) : null, copy, h('pre', {}, code));
    }
    case 'ul':
    case 'ol': return h(b.t, {}, b.items.map((it) => h('li', {}, renderInline(it))));
    case 'hr': return h('hr', {});
    default: return h('p', {}, renderInline(b.inl));
    }
}

function renderInline(nodes) {
    return nodes.map((n) => {
        switch (n.t) {
        case 'code': return h('code', { text: n.s });
        case 'b': return h('strong', {}, renderInline(n.c));
        case 'i': return h('em', {}, renderInline(n.c));
        case 'a': {
            const label = h('a', { href: n.href, rel: 'noopener noreferrer', target: '_blank' }, renderInline(n.c));
            return h('span', { class: 'link' }, label, h('span', { class: 'url' }, ` (${n.href})`));
        }
        default: return document.createTextNode(n.s);
        }
    });
}

function servedByLabel(key) {
    if (!key) return 'unknown';
    if (key === 'local') return `this device${thisDevice && thisDevice.name ? ` (${thisDevice.name})` : ''}`;
    const m = /^peer:(.+)$/.exec(key);
    if (m) {
        const p = peers.find((x) => x.id === m[1] || shortId(x.id) === m[1] || x.id.startsWith(m[1]));
        const name = p ? peerName(p) : '';
        return name ? `${name} (${shortId(m[1])})` : `device ${m[1]}`;
    }
    return key;
}

function addMessage(role, content) {
    const body = h('div', { class: 'body' });
    const meta = h('p', { class: 'meta small' });
    const el = h('li', { class: `msg ${role}` },
        h('span', { class: 'who visually-hidden' }, role === 'user' ? 'You:' : 'Answer:'), body, meta);
    $('log').append(el);
    $('chat-empty').hidden = true;
    const msg = { role, content, el, body, meta };
    messages.push(msg);
    drawMessage(msg);
    return msg;
}

function drawMessage(msg) {
    if (msg.role === 'user') msg.body.replaceChildren(h('p', {}, msg.content));
    else msg.body.replaceChildren(renderMarkdown(msg.content));
}

function scrollLog() {
    const log = $('log');
    log.scrollTop = log.scrollHeight;
}

function setBusy(on) {
    busy = on;
    $('send').disabled = on;
    $('stop').disabled = !on;
}

async function send(ev) {
    ev.preventDefault();
    const text = $('prompt').value.trim();
    const model = $('model').value;
    if (!text || busy) return;
    if (!model) {
        setConn('Pull a model first.', true);
        return;
    }
    $('prompt').value = '';
    addMessage('user', text);
    const history = messages.filter((m) => !m.failed && m.content).map((m) => ({ role: m.role, content: m.content }));
    const answer = addMessage('assistant', '');
    answer.el.classList.add('streaming');
    const meta = answer.meta;
    meta.textContent = `Waiting for ${model}…`;
    const ctrl = new AbortController();
    abort = ctrl;
    setBusy(true);
    const t0 = performance.now();
    let tFirst = 0;
    let chunks = 0;
    let usage = null;
    let served = '';
    let outcome = 'done';
    let pending = false;
    const redraw = () => {
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => {
            pending = false;
            drawMessage(answer);
            scrollLog();
        });
    };
    try {
        const maxTokens = Math.max(1, Math.min(32768, parseInt($('max-tokens').value, 10) || 1024));
        const res = await api('/v1/chat/completions', {
            method: 'POST', signal: ctrl.signal, headers: { 'X-Unhosted-Ring': $('ring').value },
            json: {
                model, messages: history, stream: true, max_tokens: maxTokens,
                stream_options: { include_usage: true },
            },
        });
        served = res.headers.get('X-Unhosted-Served-By') || '';
        answer.el.dataset.servedBy = served;
        if (!res.ok) throw await failure(res);
        meta.textContent = `Answering on ${servedByLabel(served)}…`;
        for await (const data of sse(res.body)) {
            if (data === '[DONE]') break;
            let ev2;
            try {
                ev2 = JSON.parse(data);
            } catch {
                continue;
            }
            if (ev2.error) throw new Error(typeof ev2.error === 'string' ? ev2.error : ev2.error.message || 'error');
            if (ev2.usage) usage = ev2.usage;
            const delta = ev2.choices && ev2.choices[0] && ev2.choices[0].delta;
            if (delta && typeof delta.content === 'string' && delta.content) {
                if (!tFirst) tFirst = performance.now();
                chunks++;
                answer.content += delta.content;
                redraw();
            }
            const fin = ev2.choices && ev2.choices[0] && ev2.choices[0].finish_reason;
            if (fin === 'length') outcome = 'length';
        }
    } catch (e) {
        if (e.name === 'AbortError') outcome = 'stopped';
        else {
            outcome = 'error';
            answer.failed = !answer.content;
            answer.error = e.message;
        }
    } finally {
        abort = null;
        setBusy(false);
        answer.el.classList.remove('streaming');
    }
    drawMessage(answer);
    const tEnd = performance.now();
    const tokens = usage && Number.isFinite(usage.completion_tokens) ? usage.completion_tokens : chunks;
    const secs = tFirst ? (tEnd - tFirst) / 1000 : 0;
    const tps = secs > 0 && tokens > 1 ? (tokens - 1) / secs : 0;
    if (tps > 0 && served) recordSpeed(served, tps);
    const parts = [`Served by ${servedByLabel(served)}`];
    if (tokens) parts.push(`${tokens} tokens`);
    if (tps > 0) parts.push(`${tps.toFixed(1)} tokens/s`);
    parts.push(`${((tEnd - t0) / 1000).toFixed(1)} s`);
    if (outcome === 'stopped') parts.push('stopped');
    if (outcome === 'length') parts.push('cut at max tokens');
    meta.replaceChildren(h('span', { class: 'served' }, parts.join(' · ')));
    if (outcome === 'error') meta.append(h('span', { class: 'error block' }, `Error: ${answer.error}`));
    answer.el.dataset.outcome = outcome;
    scrollLog();
    $('prompt').focus();
}

function stop() {
    if (abort) abort.abort();
}

function newChat() {
    stop();
    messages = [];
    $('log').replaceChildren();
    $('chat-empty').hidden = false;
    $('prompt').focus();
}

export function initChat() {
    $('composer').addEventListener('submit', send);
    $('stop').addEventListener('click', stop);
    $('new-chat').addEventListener('click', newChat);
    $('prompt').addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            $('composer').requestSubmit();
        }
    });
}
