// lib.mjs - shared pieces of the dashboard tests: Chromium launch (Debian's build, headless,
// a fresh profile, nothing contacted but 127.0.0.1), PASS/FAIL reporting, screenshots.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--no-proxy-server'];

let failures = 0;

export function pass(name) {
    console.log(`PASS ${name}`);
}

export function fail(name, why) {
    failures++;
    console.log(`FAIL ${name}`);
    for (const line of String(why).split('\n').slice(0, 8)) console.log(`  ${line}`);
}

export function failed() {
    return failures;
}

// Runs one named case; an exception is its failure (the message says what was expected).
export async function check(name, fn) {
    try {
        await fn();
        pass(name);
        return true;
    } catch (e) {
        fail(name, e && e.stack ? e.stack : e);
        return false;
    }
}

export function expect(cond, message) {
    if (!cond) throw new Error(message);
}

// A browser context on a fresh profile directory; close() removes it.
export async function launch(viewport = { width: 1280, height: 800 }) {
    const dir = mkdtempSync(join(tmpdir(), 'unhosted-chromium-'));
    const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM, headless: true, args: ARGS, viewport,
        serviceWorkers: 'block',
    });
    return {
        context,
        async close() {
            await context.close().catch(() => {});
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

// Console errors and uncaught exceptions of a page, collected from now on.
export function watchErrors(page, allowAdmin404 = false) {
    const errors = [];
    page.on('console', (m) => {
        // a node without the cluster service answers /admin/* with 404: expected, not an error
        const where = m.location() && m.location().url ? m.location().url : '';
        if (m.type() === 'error' && !(allowAdmin404 && /\/admin\//.test(where) && /404/.test(m.text()))) {
            errors.push(`console: ${m.text()} ${where}`);
        }
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    return errors;
}

// The scripts a page fetches (the entry module and every module it imports), from now on:
// [{name, status, type}], name being the file name of the URL.
export function watchScripts(page) {
    const scripts = [];
    page.on('response', (r) => {
        if (r.request().resourceType() !== 'script') return;
        const name = new URL(r.url()).pathname.split('/').pop();
        scripts.push({ name, status: r.status(), type: r.headers()['content-type'] || '' });
    });
    page.on('requestfailed', (r) => {
        if (r.resourceType() !== 'script') return;
        const name = new URL(r.url()).pathname.split('/').pop();
        scripts.push({ name, status: 0, type: r.failure() ? r.failure().errorText : 'failed' });
    });
    return scripts;
}

export function screenshotter(dir, prefix) {
    let n = 0;
    return async (page, name) => {
        n++;
        const file = join(dir, `${prefix}-${String(n).padStart(2, '0')}-${name}.png`);
        await page.screenshot({ path: file, fullPage: false });
        return file;
    };
}
