// dom.js - the few DOM helpers every panel uses: element lookup, element building, a redraw gate
// and a two-step button.
//
// Safety: h() puts strings in the page as text nodes and sets attributes one by one by name, so
// a string from the network (model output, device names, error messages) is never parsed as
// HTML. No module of the dashboard uses innerHTML.

export const $ = (id) => document.getElementById(id);

// h('li', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child...): strings become text
// nodes; attributes are set one by one (never parsed).
export function h(tag, attrs, ...children) {
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

// The polls redraw a section only when what it shows changed, so that focus and a half-typed
// input survive them. changed(key, value) is true the first time and whenever value's JSON
// differs from the last one given for key; forget(key) forces the next draw.
const drawn = new Map();

export function changed(key, value) {
    const s = JSON.stringify(value);
    if (drawn.get(key) === s) return false;
    drawn.set(key, s);
    return true;
}

export function forget(key) {
    drawn.delete(key);
}

// A button that asks again before acting (no window.confirm: works the same by keyboard).
export function confirmButton(label, ask, action) {
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
