/* unicode.c - UTF-8 coding, character classes and BERT folding over the generated tables (see
 * unicode.h). Lookups are binary searches; ASCII takes a fast path since it dominates most
 * text. Hangul syllables decompose by the Unicode algorithm (leading consonant, vowel, optional
 * trailing consonant) rather than by table. */
#include "text/unicode.h"

size_t uni_decode(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    uint32_t v;
    *cp = -1;
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0; /* no overlong forms */
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        v = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 1;
    }
    if (n < need || s[1] < lo || s[1] > hi) return 1;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 1;
        v = v << 6 | (s[i] & 0x3fu);
    }
    *cp = (int32_t)v;
    return need;
}

size_t uni_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

enum uni_class uni_class_of(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return UNI_SPACE;
        if (cp < 0x20 || cp == 0x7f) return UNI_CONTROL;
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
            (cp >= 123 && cp <= 126))
            return UNI_PUNCT;
        return UNI_OTHER;
    }
    int lo = 0, hi = uni_n_class_ranges - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < uni_class_ranges[mid].lo)
            hi = mid - 1;
        else if (cp > uni_class_ranges[mid].hi)
            lo = mid + 1;
        else
            return (enum uni_class)uni_class_ranges[mid].cls;
    }
    return UNI_OTHER;
}

int uni_is_cjk(uint32_t cp)
{
    return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
           (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
           (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
           (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/* Hangul syllable composition constants (Unicode chapter 3.12). */
#define HANGUL_S_BASE 0xac00u
#define HANGUL_L_BASE 0x1100u
#define HANGUL_V_BASE 0x1161u
#define HANGUL_T_BASE 0x11a7u
#define HANGUL_V_COUNT 21u
#define HANGUL_T_COUNT 28u
#define HANGUL_COUNT 11172u

int uni_fold_uncased(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    if (cp - HANGUL_S_BASE < HANGUL_COUNT) {
        uint32_t s = cp - HANGUL_S_BASE;
        out[0] = HANGUL_L_BASE + s / (HANGUL_V_COUNT * HANGUL_T_COUNT);
        out[1] = HANGUL_V_BASE + (s % (HANGUL_V_COUNT * HANGUL_T_COUNT)) / HANGUL_T_COUNT;
        uint32_t t = s % HANGUL_T_COUNT;
        if (!t) return 2;
        out[2] = HANGUL_T_BASE + t;
        return 3;
    }
    int lo = 0, hi = uni_n_folds - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < uni_folds[mid].cp) {
            hi = mid - 1;
        } else if (cp > uni_folds[mid].cp) {
            lo = mid + 1;
        } else {
            int n = 0;
            while (n < 3 && uni_folds[mid].out[n]) {
                out[n] = uni_folds[mid].out[n];
                n++;
            }
            return n;
        }
    }
    out[0] = cp;
    return 1;
}
