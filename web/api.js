// api.js - calls to this node's HTTP API, and the connection line in the header.
//
// The API token (needed only from another machine) lives in sessionStorage and goes out as
// "Authorization: Bearer" on same-origin requests only; it is never a cookie. A 401 goes to
// the handler login.js registers, which asks for the token.
import { $ } from './dom.js';

const TOKEN_KEY = 'unhosted.token';

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let unauthorized = () => {};

export class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

// fn(hadToken) runs on every 401 answer.
export function onUnauthorized(fn) {
    unauthorized = fn;
}

// Uses token from now on; keep: also store it for this tab (after the node accepted it).
export function setToken(value, keep) {
    token = value;
    if (keep) sessionStorage.setItem(TOKEN_KEY, value);
}

// fetch() of a same-origin path with the token. opts: {method, headers, json, body, signal}.
// Resolves to the Response whatever its status, except 401 (throws an ApiError).
export async function api(path, opts = {}) {
    const headers = new Headers(opts.headers || {});
    if (token) headers.set('Authorization', `Bearer ${token}`);
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
        unauthorized(!!token);
        throw new ApiError(401, 'this node needs its API token');
    }
    return res;
}

// The ApiError for a failed response, with the node's own message when its body has one
// ({"error": "..."} or OpenAI's {"error": {"message": "..."}}).
export async function failure(res) {
    let body = null;
    try {
        body = await res.json();
    } catch {
        body = null;
    }
    let text = `${res.status} ${res.statusText}`;
    if (body && typeof body.error === 'string') text = body.error;
    else if (body && body.error && typeof body.error.message === 'string') text = body.error.message;
    return new ApiError(res.status, text);
}

// api() for a JSON answer: resolves to the parsed body (null if none), throws an ApiError
// unless the status is 2xx.
export async function apiJson(path, opts) {
    const res = await api(path, opts);
    if (!res.ok) throw await failure(res);
    try {
        return await res.json();
    } catch {
        return null;
    }
}

// The line in the header: '' when all is well, else what went wrong (bad: shown as an error).
export function setConn(text, bad) {
    const c = $('conn');
    c.textContent = text;
    c.classList.toggle('bad', !!bad);
}
