// cluster.js - the Cluster view: one row for this device and one per paired device with its
// state, ring, models, load, round trip and the mean of the last tokens/s its answers reached
// on this page (fed by the chat).
import { $, changed, forget, h } from './dom.js';
import { peerName, peers, thisDevice } from './devices.js';
import { localModels } from './models.js';

const speeds = new Map(); // served-by key ("local", "peer:<id>") -> last tokens/s values
const N_SPEEDS = 10;

// An answer served by key (the X-Unhosted-Served-By value) ran at tps tokens/s.
export function recordSpeed(key, tps) {
    const list = speeds.get(key) || [];
    list.push(tps);
    speeds.set(key, list.slice(-N_SPEEDS));
    renderCluster();
}

// Redraws the table if the view is shown and its rows changed.
export function renderCluster() {
    if ($('view-cluster').hidden) return;
    const rows = [];
    const speed = (key) => {
        const l = speeds.get(key);
        return l && l.length ? (l.reduce((a, b) => a + b, 0) / l.length).toFixed(1) : '—';
    };
    const localNames = localModels.map((m) => m.name);
    rows.push(['this', thisDevice ? thisDevice.name : 'This device', 'online', 'this device',
        localNames.join(', ') || '—', '—', '—', speed('local')]);
    for (const p of peers.filter((x) => x.paired)) {
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

// Shows the Chat view (name 'chat') or this one (name 'cluster'), and presses its tab.
export function showView(name) {
    const chat = name === 'chat';
    $('view-chat').hidden = !chat;
    $('view-cluster').hidden = chat;
    $('tab-chat').setAttribute('aria-pressed', String(chat));
    $('tab-cluster').setAttribute('aria-pressed', String(!chat));
    if (!chat) {
        forget('cluster');
        renderCluster();
    }
}
