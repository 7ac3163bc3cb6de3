// md_test.mjs PATH_TO_md.js - the markdown parser of the dashboard without a browser: the
// shapes it produces, and that links survive only for http(s) URLs (everything else stays text).
const { parseMarkdown, parseInline, safeUrl } = await import(process.argv[2]);
let failures = 0;
function t(name, cond, detail) {
    if (cond) console.log(`PASS ${name}`);
    else {
        failures++;
        console.log(`FAIL ${name}`);
        console.log(`  ${JSON.stringify(detail)}`);
    }
}
const text = (nodes) => nodes.map((n) => (n.s !== undefined ? n.s : text(n.c || []))).join('');

let b = parseMarkdown('# Title\n\nSome **bold** and *it* and `x<y`\n\n```js\nlet a = "<b>";\n```\n- one\n- two\n\n1. a\n2. b');
t('md_blocks', b.map((x) => x.t).join(',') === 'h,p,code,ul,ol', b);
t('md_inline', JSON.stringify(b[1].inl.map((n) => n.t)) === '["text","b","text","i","text","code"]', b[1]);
t('md_code_kept_verbatim', b[2].lang === 'js' && b[2].text === 'let a = "<b>";', b[2]);
b = parseMarkdown('```\nunclosed <script>');
t('md_unclosed_fence_is_code', b.length === 1 && b[0].t === 'code' && b[0].text === 'unclosed <script>', b);
for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>', 'vbscript:x',
    '//evil.example/x', '/relative', 'https://a"onmouseover=x', ' javascript:alert(1)']) {
    const inl = parseInline(`[x](${bad})`);
    t(`md_link_refused ${bad}`, inl.every((n) => n.t === 'text') && text(inl) === `[x](${bad})`, inl);
}
let inl = parseInline('see [docs](https://example.com/a?b=1) now');
t('md_link_https', inl[1].t === 'a' && inl[1].href === 'https://example.com/a?b=1', inl);
t('md_safe_url', safeUrl('http://x.example/') === 'http://x.example/' && safeUrl('ftp://x') === null, '');
inl = parseInline('a <script>alert(1)</script> <img src=x onerror=alert(1)>');
t('md_html_is_text', inl.length === 1 && inl[0].t === 'text' && inl[0].s.includes('<script>'), inl);
inl = parseInline('2 * 3 * 4 and snake_case_name and **unclosed');
t('md_stray_delimiters_are_text', inl.every((n) => n.t === 'text') && text(inl) === '2 * 3 * 4 and snake_case_name and **unclosed', inl);
process.exit(failures ? 1 : 0);
