// md.js - a small markdown subset parsed into plain objects, never into HTML.
//
// Model output is untrusted: this parser produces a tree of {t: kind, ...} nodes holding plain
// strings, and chat.js turns it into DOM nodes with createElement + textContent only. Nothing
// here can create an element the renderer does not know, and no string is ever parsed as HTML.
//
// Blocks:  {t:'p', inl}  {t:'h', level: 1..6, inl}  {t:'code', lang, text}
//          {t:'ul'|'ol', items: [inl]}  {t:'hr'}
// Inlines: {t:'text', s}  {t:'code', s}  {t:'b', c: [inl]}  {t:'i', c: [inl]}
//          {t:'a', href, c: [inl]}  (href is always http: or https:; anything else stays text)
// A fence that is not closed yet (a streaming answer) is still a code block.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)\s*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^ {0,3}[-*+]\s+(.*)$/;
const ORDERED = /^ {0,3}\d{1,9}[.)]\s+(.*)$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const LINK = /^\[([^\]\n]{1,500})\]\(\s*([^()\s]{1,2000})\s*\)/;
const SAFE_URL = /^https?:\/\/[^\s<>"'`]+$/i;

export function safeUrl(url) {
    if (!SAFE_URL.test(url)) return null;
    try {
        const u = new URL(url);
        return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch {
        return null;
    }
}

// Emphasis and code spans close on the same delimiter; an unmatched one is plain text.
export function parseInline(s, depth = 0) {
    const out = [];
    let text = '';
    const flush = () => {
        if (text) out.push({ t: 'text', s: text });
        text = '';
    };
    let i = 0;
    while (i < s.length) {
        const ch = s[i];
        if (ch === '\\' && i + 1 < s.length && /[\\`*_[\]()#+\-.!~]/.test(s[i + 1])) {
            text += s[i + 1];
            i += 2;
            continue;
        }
        if (ch === '`') {
            let n = 1;
            while (s[i + n] === '`') n++;
            const fence = '`'.repeat(n);
            const end = s.indexOf(fence, i + n);
            if (end !== -1) {
                flush();
                out.push({ t: 'code', s: s.slice(i + n, end) });
                i = end + n;
                continue;
            }
            text += fence;
            i += n;
            continue;
        }
        if ((ch === '*' || ch === '_') && depth < 4) {
            const strong = s[i + 1] === ch;
            const delim = strong ? ch + ch : ch;
            const wordInside = ch === '_' && i > 0 && /\w/.test(s[i - 1]);
            const start = i + delim.length;
            const end = wordInside ? -1 : findClose(s, delim, start);
            if (end > start) {
                flush();
                out.push({ t: strong ? 'b' : 'i', c: parseInline(s.slice(start, end), depth + 1) });
                i = end + delim.length;
                continue;
            }
            text += delim;
            i += delim.length;
            continue;
        }
        if (ch === '[') {
            const m = LINK.exec(s.slice(i));
            if (m) {
                const href = safeUrl(m[2]);
                if (href) {
                    flush();
                    out.push({ t: 'a', href, c: parseInline(m[1], depth + 1) });
                    i += m[0].length;
                    continue;
                }
            }
        }
        text += ch;
        i++;
    }
    flush();
    return out;
}

function findClose(s, delim, from) {
    let j = from;
    while (j < s.length) {
        const k = s.indexOf(delim, j);
        if (k === -1) return -1;
        // "**" must not be read as the closing "*" of an italic span, nor follow a space
        const doubled = delim.length === 1 && (s[k + 1] === delim || s[k - 1] === delim);
        if (!doubled && !/\s/.test(s[k - 1])) return k;
        j = k + delim.length;
    }
    return -1;
}

export function parseMarkdown(src) {
    const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    const blocks = [];
    let para = [];
    let list = null;
    const endPara = () => {
        if (para.length) blocks.push({ t: 'p', inl: parseInline(para.join('\n')) });
        para = [];
    };
    const endList = () => {
        if (list) blocks.push(list);
        list = null;
    };
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        let m = FENCE.exec(line);
        if (m) {
            endPara();
            endList();
            const close = new RegExp('^ {0,3}' + m[1][0] + '{' + m[1].length + ',}\\s*$');
            const body = [];
            i++;
            while (i < lines.length && !close.test(lines[i])) body.push(lines[i++]);
            blocks.push({ t: 'code', lang: m[2].slice(0, 32), text: body.join('\n') });
            continue;
        }
        if (!line.trim()) {
            endPara();
            endList();
            continue;
        }
        if ((m = HEADING.exec(line))) {
            endPara();
            endList();
            blocks.push({ t: 'h', level: m[1].length, inl: parseInline(m[2]) });
            continue;
        }
        if (RULE.test(line) && !para.length) {
            endList();
            blocks.push({ t: 'hr' });
            continue;
        }
        const bullet = BULLET.exec(line);
        const ordered = bullet ? null : ORDERED.exec(line);
        if (bullet || ordered) {
            endPara();
            const kind = bullet ? 'ul' : 'ol';
            if (list && list.t !== kind) endList();
            if (!list) list = { t: kind, items: [] };
            list.items.push(parseInline((bullet || ordered)[1]));
            continue;
        }
        if (list && /^\s{2,}\S/.test(line)) { // a continuation line of the last item
            const last = list.items[list.items.length - 1];
            last.push({ t: 'text', s: '\n' }, ...parseInline(line.trim()));
            continue;
        }
        endList();
        para.push(line);
    }
    endPara();
    endList();
    return blocks;
}
