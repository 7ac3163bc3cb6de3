// devices.js - the sidebar's device panels: this device (GET /admin/self), devices on this
// network and paired devices (GET /admin/peers), adding a device by address and revoking one.
// The lists are also read by the model picker, the chat's served-by line and the cluster view,
// through the live bindings exported below (read-only outside this module).
import { apiJson, setConn } from './api.js';
import { $, changed, confirmButton, h } from './dom.js';

export let thisDevice = null; // GET /admin/self: {id, name, peer_addr}
export let hasAdmin = null; // null: not known yet; true / false: the node has (not) the admin API
export let peers = []; // GET /admin/peers entries, nearby and paired

let hooks = { onPair: () => {}, onChange: () => {} };

export function shortId(id) {
    return String(id || '').split('-')[0] || '';
}

export function peerName(p) {
    return p.name || shortId(p.id) || p.addr || 'device';
}

// "name (short id)" of a peer by its id, as far as the peers list knows it.
export function peerLabel(id) {
    const p = peers.find((x) => x.id === id);
    return p ? `${peerName(p)} (${shortId(id)})` : shortId(id) || 'the device';
}

function fmtQuota(q) {
    return Number.isFinite(q) && q > 0 ? `limit ${q.toLocaleString('en-US')} tokens/day here` : 'no daily limit';
}

export async function loadSelf() {
    try {
        thisDevice = await apiJson('/admin/self');
        hasAdmin = true;
    } catch (e) {
        if (e.status === 404) hasAdmin = false;
        else throw e;
    }
    renderSelf();
}

function renderSelf() {
    const box = $('self');
    const s = thisDevice;
    const v = s ? { n: s.name, id: s.id, a: s.peer_addr } : { admin: hasAdmin };
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
    $('cluster-sections').hidden = hasAdmin === false;
    $('cluster-off').hidden = hasAdmin !== false;
}

export async function loadPeers() {
    const r = await apiJson('/admin/peers');
    peers = Array.isArray(r && r.peers) ? r.peers : [];
    renderPeers();
}

function renderPeers() {
    const nearby = peers.filter((p) => !p.paired);
    const paired = peers.filter((p) => p.paired);
    if (changed('nearby', nearby.map((p) => [p.id, p.name, p.addr, p.online]))) {
        $('nearby').replaceChildren(...nearby.map((p) => h('li', { class: 'item', 'data-id': p.id },
            h('div', { class: 'grow' },
                h('span', { class: 'name' }, peerName(p)),
                h('span', { class: 'small muted block' },
                    [p.name ? shortId(p.id) : '', p.addr].filter(Boolean).join(' · '))),
            h('button', {
                type: 'button', class: 'primary small-button', 'aria-label': `Pair with ${peerName(p)}`,
                onclick: () => hooks.onPair(p),
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
    }
    hooks.onChange();
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

// onPair(peer): the Pair button of a nearby device; onChange(): after each draw of the peers
// list (other panels that show peers redraw from it).
export function initDevices(onPair, onChange) {
    hooks = { onPair, onChange };
    $('add-peer').addEventListener('submit', addPeer);
}
