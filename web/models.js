// models.js - the Models panel (this node's models from GET /api/tags, Delete, Pull with a
// progress bar fed by /api/pull's NDJSON events) and the chat's model picker (this device's
// models, then those only paired devices have).
import { api, apiJson, failure, setConn } from './api.js';
import { $, changed, confirmButton, h } from './dom.js';
import { peerName, peers } from './devices.js';
import { ndjson } from './stream.js';

export let localModels = []; // GET /api/tags entries
let servable = []; // GET /v1/models ids this node serves itself
let pull = null; // AbortController of a pull in progress

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

export async function loadModels() {
    const [tags, list] = await Promise.all([apiJson('/api/tags'), apiJson('/v1/models')]);
    localModels = Array.isArray(tags && tags.models) ? tags.models : [];
    // /v1/models also lists what paired devices hold (owned_by "peer:<id>"): those come from
    // the peers list, grouped by device.
    servable = Array.isArray(list && list.data)
        ? list.data.filter((m) => !String(m.owned_by || '').startsWith('peer:')).map((m) => m.id)
        : [];
    renderModels();
    renderModelPicker();
}

function renderModels() {
    const models = localModels;
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
export function renderModelPicker() {
    const local = [...new Set([...servable, ...localModels.map((m) => m.name)])].sort();
    const remote = new Map();
    for (const p of peers) {
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
    if (pull) return;
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
    pull = new AbortController();
    let result = 'error';
    try {
        const res = await api('/api/pull', {
            method: 'POST', signal: pull.signal,
            json: { model, stream: true, insecure: $('pull-insecure').checked },
        });
        if (!res.ok) throw await failure(res);
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
        pull = null;
        $('pull-start').disabled = false;
        $('pull-cancel').hidden = true;
    }
}

export function initModels() {
    $('pull').addEventListener('submit', pullModel);
    $('pull-cancel').addEventListener('click', () => pull && pull.abort());
}
