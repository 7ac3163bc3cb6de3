// app.js - the dashboard: this device, nearby and paired devices, pairing, models (pull with
// progress, delete), chat (streaming, stop, served-by line) and the cluster view.
//
// Safety: every string from the network (model output, device names, error messages) reaches
// the page through textContent or an attribute set by name; there is no innerHTML anywhere.
// Markdown is parsed by md.js into plain objects and built here from a fixed set of elements.
// The API token (needed only from another machine) lives in sessionStorage and goes out as
// "Authorization: Bearer" on same-origin requests only.
import { initInvites, readQuota } from './invite.js';
import { parseMarkdown } from './md.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'unhosted.token';
const POLL_MS = 1000;

const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    self: null,
    admin: null, // null: not known yet, true / false: the node has (not) the admin API
    peers: [],
    pairings: [],
    localModels: [], // /api/tags entries
    servable: [], // /v1/models ids
    rendered: {}, // section -> JSON last drawn (redraw only on change: keeps focus)
    dialog: null, // the pairing the dialog shows: {id, incoming, target, name}
    dismissed: new Set(), // incoming pairings the user answered or closed
    busy: false,
    abort: null,
    messages: [], // {role, content, el, meta}
    speed: new Map(), // served-by key -> recent tokens/s values
    pull: null, // AbortController of a pull in progress
    tick: 0,
};

class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

// ---- DOM helpers ----

// h('li', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child...): strings become text
// nodes; attributes are set one by one (never parsed).
function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
        if (c === null || c === undefined || c === false) continue;
        el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
}

function changed(key, value) {
    const s = JSON.stringify(value);
    if (state.rendered[key] === s) return false;
    state.rendered[key] = s;
    return true;
}

// A button that asks again before acting (no window.confirm: works the same by keyboard).
function confirmButton(label, ask, action) {
    let armed = null;
    const b = h('button', { type: 'button', class: 'secondary small-button' }, label);
    b.addEventListener('click', async () => {
        if (!armed) {
            b.textContent = ask;
            b.classList.add('danger');
            armed = setTimeout(() => {
                armed = null;
                b.textContent = label;
                b.classList.remove('danger');
            }, 4000);
            return;
        }
        clearTimeout(armed);
        armed = null;
        b.disabled = true;
        try {
            await action();
        } finally {
            b.disabled = false;
            b.textContent = label;
            b.classList.remove('danger');
        }
    });
    return b;
}

function fmtBytes(n) {
    if (!Number.isFinite(n) || n <= 0) return '0 B';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) {
        n /= 1000;
        i++;
    }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

function fmtCode(code) {
    const c = String(code || '');
    return c.length === 6 ? `${c.slice(0, 3)} ${c.slice(3)}` : c;
}

function shortId(id) {
    return String(id || '').split('-')[0] || '';
}

// ---- API ----

async function api(path, opts = {}) {
    const headers = new Headers(opts.headers || {});
    if (state.token) headers.set('Authorization', `Bearer ${state.token}`);
    let body = opts.body;
    if (opts.json !== undefined) {
        headers.set('Content-Type', 'application/json');
        body = JSON.stringify(opts.json);
    }
    const res = await fetch(path, {
        method: opts.method || 'GET', headers, body, signal: opts.signal, cache: 'no-store',
        credentials: 'omit', redirect: 'error',
    });
    if (res.status === 401) {
        showLogin(state.token ? 'That token was not accepted.' : '');
        throw new ApiError(401, 'this node needs its API token');
    }
    return res;
}

function errorText(body, res) {
    if (body && typeof body.error === 'string') return body.error;
    if (body && body.error && typeof body.error.message === 'string') return body.error.message;
    return `${res.status} ${res.statusText}`;
}

async function apiJson(path, opts) {
    const res = await api(path, opts);
    let body = null;
    try {
        body = await res.json();
    } catch {
        body = null;
    }
    if (!res.ok) throw new ApiError(res.status, errorText(body, res));
    return body;
}

function setConn(text, bad) {
    const c = $('conn');
    c.textContent = text;
    c.classList.toggle('bad', !!bad);
}

// ---- login (only from another machine) ----

function showLogin(message) {
    const d = $('login-dialog');
    $('login-msg').textContent = message || '';
    if (!d.open) d.showModal();
    $('login-token').focus();
}

async function login(ev) {
    ev.preventDefault();
    const token = $('login-token').value.trim();
    if (!/^[0-9a-f]{64}$/i.test(token)) {
        $('login-msg').textContent = 'A token is 64 hexadecimal characters.';
        return;
    }
    state.token = token;
    try {
        await apiJson('/v1/models');
    } catch (e) {
        if (e.status === 401) return;
        $('login-msg').textContent = e.message;
        return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login-token').value = '';
    $('login-dialog').close();
    refresh(true);
}

// ---- this device, peers, pairings ----

async function loadSelf() {
    try {
        state.self = await apiJson('/admin/self');
        state.admin = true;
    } catch (e) {
        if (e.status === 404) state.admin = false;
        else throw e;
    }
    renderSelf();
}

function renderSelf() {
    const box = $('self');
    const s = state.self;
    const v = s ? { n: s.name, id: s.id, a: s.peer_addr } : { admin: state.admin };
    if (!changed('self', v)) return;
    box.replaceChildren();
    if (!s) {
        box.append(h('p', { class: 'muted small' }, 'This node'));
    } else {
        box.append(
            h('p', { class: 'self-name', id: 'self-name' }, s.name || 'this device'),
            h('p', { class: 'small' }, 'Device ID'),
            h('code', { class: 'device-id', id: 'self-id', title: s.id }, s.id || ''),
        );
        if (s.peer_addr) box.append(h('p', { class: 'small muted' }, `Peer address ${s.peer_addr}`));
    }
    $('cluster-sections').hidden = state.admin === false;
    $('cluster-off').hidden = state.admin !== false;
}

async function loadPeers() {
    const r = await apiJson('/admin/peers');
    state.peers = Array.isArray(r && r.peers) ? r.peers : [];
    renderPeers();
}

function peerName(p) {
    return p.name || shortId(p.id) || p.addr || 'device';
}

function fmtQuota(q) {
    return Number.isFinite(q) && q > 0 ? `limit ${q.toLocaleString('en-US')} tokens/day here` : 'no daily limit';
}

function renderPeers() {
    const nearby = state.peers.filter((p) => !p.paired);
    const paired = state.peers.filter((p) => p.paired);
    if (changed('nearby', nearby.map((p) => [p.id, p.name, p.addr, p.online]))) {
        $('nearby').replaceChildren(...nearby.map((p) => h('li', { class: 'item', 'data-id': p.id },
            h('div', { class: 'grow' },
                h('span', { class: 'name' }, peerName(p)),
                h('span', { class: 'small muted block' },
                    [p.name ? shortId(p.id) : '', p.addr].filter(Boolean).join(' · '))),
            h('button', {
                type: 'button', class: 'primary small-button', 'aria-label': `Pair with ${peerName(p)}`,
                onclick: () => startPairing(p),
            }, 'Pair'))));
        $('nearby-empty').hidden = nearby.length > 0;
    }
    const view = paired.map((p) => [p.id, p.name, p.ring, p.quota, p.online, p.rtt_ms, p.models, p.load]);
    if (changed('paired', view)) {
        $('paired').replaceChildren(...paired.map((p) => {
            const load = p.load || {};
            return h('li', { class: 'item peer', 'data-id': p.id },
                h('div', { class: 'grow' },
                    h('span', { class: `dot ${p.online ? 'on' : 'off'}`, 'aria-hidden': 'true' }),
                    h('span', { class: 'name' }, peerName(p)),
                    h('span', { class: `badge ring-${p.ring === 'own' ? 'own' : 'trusted'}` },
                        p.ring === 'own' ? 'mine' : 'trusted'),
                    h('span', { class: 'small muted block' },
                        p.online ? 'online' : 'offline',
                        p.online && Number.isFinite(p.rtt_ms) ? ` · ${Math.round(p.rtt_ms)} ms` : '',
                        p.online && load.slots ? ` · load ${load.active || 0}/${load.slots}` : '',
                        load.queued ? ` (+${load.queued} queued)` : ''),
                    h('span', { class: 'small muted block quota', 'data-quota': p.quota },
                        `${p.ring === 'own' ? 'My device' : 'Trusted friend'} · ${fmtQuota(p.quota)}`),
                    h('span', { class: 'small block models-of' },
                        (p.models || []).length ? `Models: ${(p.models || []).join(', ')}` : 'No models')),
                confirmButton('Revoke', 'Really revoke?', () => revoke(p)));
        }));
        $('paired-empty').hidden = paired.length > 0;
        renderModelPicker();
    }
    renderCluster();
}

async function revoke(p) {
    try {
        await apiJson('/admin/revoke', { method: 'POST', json: { id: p.id } });
        await loadPeers();
    } catch (e) {
        setConn(`Revoke failed: ${e.message}`, true);
    }
}

async function addPeer(ev) {
    ev.preventDefault();
    const addr = $('add-peer-addr').value.trim();
    const msg = $('add-peer-msg');
    msg.textContent = 'Contacting…';
    try {
        await apiJson('/admin/peers/add', { method: 'POST', json: { addr } });
        msg.textContent = `Added ${addr}.`;
        $('add-peer-addr').value = '';
        await loadPeers();
    } catch (e) {
        msg.textContent = `Could not add ${addr}: ${e.message}`;
    }
}

// ---- pairing ----

// Pair on a nearby device: the dialog first asks how to treat it (ring, daily quota), since
// the node applies an outgoing pairing's terms from POST /admin/pair; then it starts.
function startPairing(p) {
    openPairDialog({ id: null, incoming: false, state: 'setup', peer_name: peerName(p) });
    state.dialog.target = p.id || p.addr;
    $('pair-ring').focus();
}

async function beginPairing() {
    const d = state.dialog;
    if (!d || d.id || !d.target) return;
    const quota = readQuota($('pair-quota'));
    if (quota === null) {
        $('pair-msg').textContent = 'The daily limit must be a whole number of tokens (0 = no limit).';
        $('pair-quota').focus();
        return;
    }
    $('pair-msg').textContent = '';
    d.terms = { ring: $('pair-ring').value, quota };
    drawPairing({ id: null, incoming: false, state: 'connecting', peer_name: d.name });
    try {
        const r = await apiJson('/admin/pair', { method: 'POST', json: { target: d.target, ...d.terms } });
        if (state.dialog !== d) return; // closed meanwhile
        d.id = r.pairing.id;
        drawPairing(r.pairing);
    } catch (e) {
        if (state.dialog === d) drawPairing({ state: 'failed', message: e.message, peer_name: d.name });
    }
}

function openPairDialog(p) {
    state.dialog = { id: p.id, incoming: !!p.incoming, name: p.peer_name };
    $('pair-ring').value = 'own';
    $('pair-quota').value = '0';
    $('pair-msg').textContent = '';
    $('pair-dialog').dataset.state = '';
    $('pair-dialog').dataset.step = '';
    drawPairing(p);
    const d = $('pair-dialog');
    if (!d.open) d.showModal();
}

function drawPairing(p) {
    const who = p.peer_name || shortId(p.peer_id) || p.peer_addr || 'the other device';
    const waiting = p.state === 'waiting';
    const over = ['done', 'rejected', 'failed'].includes(p.state);
    const dlg = $('pair-dialog');
    const setup = p.state === 'setup';
    const step = `${p.state || ''}${p.local_ok ? '+ok' : ''}`;
    const moved = dlg.dataset.step !== step; // focus moves only when the step changes
    dlg.dataset.step = step;
    dlg.dataset.state = p.state || '';
    const failedNow = p.state === 'rejected' || p.state === 'failed';
    $('pair-title').textContent = failedNow ? `Not paired with ${who}`
        : p.incoming ? `${who} wants to pair` : `Pair with ${who}`;
    $('pair-code').textContent = waiting || p.state === 'done' ? fmtCode(p.code) : '';
    // terms: chosen before starting (outgoing) or before confirming (incoming)
    const fixed = !setup && !(p.incoming && waiting && !p.local_ok);
    $('pair-terms').hidden = !(setup || (waiting && !p.local_ok));
    $('pair-ring').disabled = fixed;
    $('pair-quota').disabled = fixed;
    let text = '';
    if (setup) text = `Choose how this device treats ${who}, then start: both screens will show a code.`;
    else if (p.state === 'connecting') text = `Connecting to ${who}…`;
    else if (waiting && !p.local_ok) {
        text = `Check that ${who} shows the same code, then confirm on both devices.`;
    } else if (waiting) text = `Confirmed here. Waiting for ${who} to confirm…`;
    else if (p.state === 'done') text = `Paired with ${who}.`;
    else if (p.state === 'rejected') {
        text = `The pairing was cancelled${p.message ? ` (${p.message})` : ''}. Nothing was paired; you can try again.`;
    } else if (p.state === 'failed') text = `Pairing failed: ${p.message || 'unknown error'}. Nothing was paired.`;
    $('pair-text').textContent = text;
    dlg.classList.toggle('ok', p.state === 'done');
    dlg.classList.toggle('bad', p.state === 'rejected' || p.state === 'failed');
    $('pair-start').hidden = !setup;
    $('pair-accept').hidden = !waiting || !!p.local_ok;
    $('pair-reject').hidden = over;
    $('pair-reject').textContent = waiting && !p.local_ok ? 'Codes differ' : 'Cancel';
    $('pair-close').hidden = !over;
    if (!moved) return;
    if (over) $('pair-close').focus();
    else if (waiting && !p.local_ok) $('pair-accept').focus();
}

async function answerPairing(accept) {
    const d = state.dialog;
    if (!d || !d.id) {
        closePairDialog();
        return;
    }
    let body = { id: d.id };
    if (accept) {
        const quota = d.terms ? d.terms.quota : readQuota($('pair-quota'));
        if (quota === null) {
            $('pair-msg').textContent = 'The daily limit must be a whole number of tokens (0 = no limit).';
            $('pair-quota').focus();
            return;
        }
        body = { id: d.id, ring: d.terms ? d.terms.ring : $('pair-ring').value, quota };
    }
    $('pair-msg').textContent = '';
    state.dismissed.add(d.id);
    const path = accept ? '/admin/pairing/accept' : '/admin/pairing/reject';
    try {
        const r = await apiJson(path, { method: 'POST', json: body });
        drawPairing({ ...r.pairing, incoming: d.incoming });
    } catch (e) {
        drawPairing({ state: 'failed', message: e.message, incoming: d.incoming });
    }
}

function closePairDialog() {
    const d = $('pair-dialog');
    if (state.dialog && state.dialog.id) state.dismissed.add(state.dialog.id);
    state.dialog = null;
    if (d.open) d.close();
}

async function loadPairings() {
    const r = await apiJson('/admin/pairings');
    state.pairings = Array.isArray(r && r.pairings) ? r.pairings : [];
    const d = state.dialog;
    if (d && d.id) {
        const p = state.pairings.find((x) => x.id === d.id);
        if (p) {
            drawPairing(p);
            if (p.state === 'done') loadPeers().catch(() => {});
        }
        return;
    }
    // an incoming request opens the dialog, unless another dialog is open
    const incoming = state.pairings.find((x) => x.incoming && !state.dismissed.has(x.id) &&
        (x.state === 'waiting' || x.state === 'connecting') && !x.local_ok);
    if (incoming && !$('login-dialog').open && !$('pair-dialog').open) openPairDialog(incoming);
}

// ---- models ----

async function loadModels() {
    const [tags, list] = await Promise.all([apiJson('/api/tags'), apiJson('/v1/models')]);
    state.localModels = Array.isArray(tags && tags.models) ? tags.models : [];
    // /v1/models also lists what paired devices hold (owned_by "peer:<id>"): those come from
    // the peers list, grouped by device.
    state.servable = Array.isArray(list && list.data)
        ? list.data.filter((m) => !String(m.owned_by || '').startsWith('peer:')).map((m) => m.id)
        : [];
    renderModels();
    renderModelPicker();
}

function renderModels() {
    const models = state.localModels;
    if (!changed('models', models.map((m) => [m.name, m.size]))) return;
    $('models').replaceChildren(...models.map((m) => {
        const d = m.details || {};
        const info = [fmtBytes(m.size), d.quantization_level, d.parameter_size].filter(Boolean).join(' · ');
        return h('li', { class: 'item', 'data-model': m.name },
            h('div', { class: 'grow' }, h('span', { class: 'name' }, m.name),
                h('span', { class: 'small muted block' }, info)),
            confirmButton('Delete', 'Really delete?', () => deleteModel(m.name)));
    }));
    $('models-empty').hidden = models.length > 0;
}

// Local models first, then the models only paired devices have.
function renderModelPicker() {
    const local = [...new Set([...state.servable, ...state.localModels.map((m) => m.name)])].sort();
    const remote = new Map();
    for (const p of state.peers) {
        if (!p.paired || !p.online) continue;
        for (const m of p.models || []) {
            if (local.includes(m)) continue;
            if (!remote.has(m)) remote.set(m, []);
            remote.get(m).push(peerName(p));
        }
    }
    const view = [local, [...remote.entries()]];
    if (!changed('picker', view)) return;
    const sel = $('model');
    const keep = sel.value;
    const groups = [];
    if (local.length) groups.push(h('optgroup', { label: 'On this device' }, local.map((m) => h('option', { value: m }, m))));
    if (remote.size) {
        groups.push(h('optgroup', { label: 'On paired devices' },
            [...remote.entries()].sort().map(([m, who]) => h('option', { value: m }, `${m} (${who.join(', ')})`))));
    }
    if (!groups.length) groups.push(h('option', { value: '' }, 'No models yet'));
    sel.replaceChildren(...groups);
    const all = [...local, ...remote.keys()];
    if (all.includes(keep)) sel.value = keep;
}

async function deleteModel(name) {
    try {
        await apiJson(`/api/delete?model=${encodeURIComponent(name)}`, { method: 'DELETE' });
        await loadModels();
    } catch (e) {
        setConn(`Delete failed: ${e.message}`, true);
    }
}

async function pullModel(ev) {
    ev.preventDefault();
    if (state.pull) return;
    const model = $('pull-name').value.trim();
    const box = $('pull-status');
    const bar = $('pull-progress');
    const text = $('pull-text');
    box.hidden = false;
    box.classList.remove('bad', 'ok');
    bar.removeAttribute('value');
    text.textContent = `Starting ${model}…`;
    $('pull-start').disabled = true;
    $('pull-cancel').hidden = false;
    state.pull = new AbortController();
    let result = 'error';
    try {
        const res = await api('/api/pull', {
            method: 'POST', signal: state.pull.signal,
            json: { model, stream: true, insecure: $('pull-insecure').checked },
        });
        if (!res.ok) {
            let body = null;
            try {
                body = await res.json();
            } catch {
                body = null;
            }
            throw new Error(errorText(body, res));
        }
        for await (const ev2 of ndjson(res.body)) {
            if (ev2.error) throw new Error(ev2.error);
            if (ev2.total > 0) {
                bar.max = ev2.total;
                bar.value = ev2.completed || 0;
                const pct = Math.floor((100 * (ev2.completed || 0)) / ev2.total);
                text.textContent = `Downloading ${model}: ${pct}% (${fmtBytes(ev2.completed)} of ${fmtBytes(ev2.total)})`;
            } else if (ev2.status === 'success') {
                result = 'success';
                bar.max = 1;
                bar.value = 1;
                text.textContent = `${model}: done.`;
            } else if (ev2.status) {
                text.textContent = `${model}: ${ev2.status}`;
            }
        }
        if (result !== 'success') throw new Error('the pull ended early');
        box.classList.add('ok');
        $('pull-name').value = '';
        await loadModels();
    } catch (e) {
        box.classList.add('bad');
        text.textContent = e.name === 'AbortError' ? `${model}: cancelled (a later pull resumes it).`
            : `${model}: ${e.message}`;
        bar.max = 1;
        bar.value = 0;
    } finally {
        state.pull = null;
        $('pull-start').disabled = false;
        $('pull-cancel').hidden = true;
    }
}

async function* lines(body) {
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

async function* ndjson(body) {
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
async function* sse(body) {
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

// ---- chat ----

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
    if (key === 'local') return `this device${state.self && state.self.name ? ` (${state.self.name})` : ''}`;
    const m = /^peer:(.+)$/.exec(key);
    if (m) {
        const p = state.peers.find((x) => x.id === m[1] || shortId(x.id) === m[1] || x.id.startsWith(m[1]));
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
    state.messages.push(msg);
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

function setBusy(busy) {
    state.busy = busy;
    $('send').disabled = busy;
    $('stop').disabled = !busy;
}

async function send(ev) {
    ev.preventDefault();
    const text = $('prompt').value.trim();
    const model = $('model').value;
    if (!text || state.busy) return;
    if (!model) {
        setConn('Pull a model first.', true);
        return;
    }
    $('prompt').value = '';
    addMessage('user', text);
    const history = state.messages.filter((m) => !m.failed && m.content).map((m) => ({ role: m.role, content: m.content }));
    const answer = addMessage('assistant', '');
    answer.el.classList.add('streaming');
    const meta = answer.meta;
    meta.textContent = `Waiting for ${model}…`;
    const ctrl = new AbortController();
    state.abort = ctrl;
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
        if (!res.ok) {
            let body = null;
            try {
                body = await res.json();
            } catch {
                body = null;
            }
            throw new Error(errorText(body, res));
        }
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
        state.abort = null;
        setBusy(false);
        answer.el.classList.remove('streaming');
    }
    drawMessage(answer);
    const tEnd = performance.now();
    const tokens = usage && Number.isFinite(usage.completion_tokens) ? usage.completion_tokens : chunks;
    const secs = tFirst ? (tEnd - tFirst) / 1000 : 0;
    const tps = secs > 0 && tokens > 1 ? (tokens - 1) / secs : 0;
    if (tps > 0 && served) {
        const list = state.speed.get(served) || [];
        list.push(tps);
        state.speed.set(served, list.slice(-10));
        renderCluster();
    }
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
    if (state.abort) state.abort.abort();
}

function newChat() {
    stop();
    state.messages = [];
    $('log').replaceChildren();
    $('chat-empty').hidden = false;
    $('prompt').focus();
}

// ---- cluster view ----

function renderCluster() {
    if ($('view-cluster').hidden) return;
    const rows = [];
    const speed = (key) => {
        const l = state.speed.get(key);
        return l && l.length ? (l.reduce((a, b) => a + b, 0) / l.length).toFixed(1) : '—';
    };
    const localNames = state.localModels.map((m) => m.name);
    rows.push(['this', state.self ? state.self.name : 'This device', 'online', 'this device',
        localNames.join(', ') || '—', '—', '—', speed('local')]);
    for (const p of state.peers.filter((x) => x.paired)) {
        const load = p.load || {};
        rows.push([p.id, peerName(p), p.online ? 'online' : 'offline', p.ring === 'own' ? 'mine' : 'trusted',
            (p.models || []).join(', ') || '—',
            load.slots ? `${load.active || 0}/${load.slots}${load.queued ? ` +${load.queued}` : ''}` : '—',
            p.online && Number.isFinite(p.rtt_ms) ? `${Math.round(p.rtt_ms)} ms` : '—', speed(`peer:${p.id}`)]);
    }
    if (!changed('cluster', rows)) return;
    $('cluster-rows').replaceChildren(...rows.map(([id, ...cells]) =>
        h('tr', { 'data-id': id }, h('th', { scope: 'row' }, cells[0]), cells.slice(1).map((c) => h('td', {}, c)))));
}

function showView(name) {
    const chat = name === 'chat';
    $('view-chat').hidden = !chat;
    $('view-cluster').hidden = chat;
    $('tab-chat').setAttribute('aria-pressed', String(chat));
    $('tab-cluster').setAttribute('aria-pressed', String(!chat));
    if (!chat) {
        delete state.rendered.cluster;
        renderCluster();
    }
}

// ---- polling ----

async function refresh(all) {
    const tick = state.tick++;
    try {
        if (all || state.admin === null || (state.admin && !state.self) || tick % 30 === 0) await loadSelf();
        const jobs = [];
        if (all || tick % 5 === 0) jobs.push(loadModels());
        if (state.admin) {
            jobs.push(loadPairings());
            if (all || tick % 2 === 0 || state.dialog) jobs.push(loadPeers());
        }
        await Promise.all(jobs);
        setConn('');
    } catch (e) {
        if (e.status !== 401) setConn(`Node unreachable: ${e.message}`, true);
    }
}

function poll() {
    if (!$('login-dialog').open) refresh(false).finally(() => setTimeout(poll, POLL_MS));
    else setTimeout(poll, POLL_MS);
}

function init() {
    $('login').addEventListener('submit', login);
    $('login-dialog').addEventListener('cancel', (e) => e.preventDefault());
    $('add-peer').addEventListener('submit', addPeer);
    $('pull').addEventListener('submit', pullModel);
    $('pull-cancel').addEventListener('click', () => state.pull && state.pull.abort());
    $('composer').addEventListener('submit', send);
    $('stop').addEventListener('click', stop);
    $('new-chat').addEventListener('click', newChat);
    $('prompt').addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            $('composer').requestSubmit();
        }
    });
    $('pair-start').addEventListener('click', beginPairing);
    $('pair-accept').addEventListener('click', () => answerPairing(true));
    $('pair-reject').addEventListener('click', () => answerPairing(false));
    $('pair-close').addEventListener('click', closePairDialog);
    $('pair-dialog').addEventListener('cancel', (e) => {
        e.preventDefault();
        const over = ['done', 'rejected', 'failed'].includes($('pair-dialog').dataset.state);
        if (over) closePairDialog();
        else answerPairing(false);
    });
    initInvites({
        apiJson,
        onPaired: () => loadPeers().catch(() => {}),
        peerLabel: (id) => {
            const p = state.peers.find((x) => x.id === id);
            return p ? `${peerName(p)} (${shortId(id)})` : shortId(id) || 'the device';
        },
    });
    $('tab-chat').addEventListener('click', () => showView('chat'));
    $('tab-cluster').addEventListener('click', () => showView('cluster'));
    $('menu').addEventListener('click', () => {
        const open = document.body.classList.toggle('menu-open');
        $('menu').setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (e) => {
        // Escape in a dialog opened from the sidebar closes only the dialog
        if (e.key === 'Escape' && document.body.classList.contains('menu-open') &&
            !document.querySelector('dialog[open]')) {
            document.body.classList.remove('menu-open');
            $('menu').setAttribute('aria-expanded', 'false');
            $('menu').focus();
        }
    });
    refresh(true).finally(() => setTimeout(poll, POLL_MS));
}

init();
