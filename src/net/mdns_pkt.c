/* mdns_pkt.c - DNS message codec for mDNS (RFC 1035 section 4, RFC 6762 section 18).
 *
 * Wire format: a 12-byte header (id, flags, then the counts of questions, answers, authority
 * and additional records, all big-endian u16), then the questions (name, type u16, class u16)
 * and the records (name, type u16, class u16, ttl u32, rdlength u16, rdata). The top bit of a
 * question's class asks for a unicast response, that of a record's class is cache-flush.
 * A name is a sequence of labels (length byte 1..63, then the bytes) ended by a zero byte or
 * by a compression pointer (two bytes 0b11xxxxxx xxxxxxxx: offset from the message start).
 *
 * Parsing is bounded: every pointer must point before the start of the labels read so far
 * (so no loop and no forward reference), a name has at most 128 labels and 255 bytes on the
 * wire, every count and rdlength is checked against the message. Rdata of A, PTR, SRV and TXT
 * is decoded; AAAA is kept without rdata; other types are skipped. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "net/mdns_impl.h"

/* ---- text form of names ---- */

int mdns_label_escape(const uint8_t *label, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = label[i];
        char tmp[5];
        size_t n;
        if (c == '.' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\%03u", c);
            n = 4;
        } else {
            tmp[0] = (char)c;
            n = 1;
        }
        if (o + n >= cap) return UH_ELIMIT;
        memcpy(out + o, tmp, n);
        o += n;
    }
    if (o >= cap) return UH_ELIMIT;
    out[o] = 0;
    return 0;
}

int mdns_label_unescape(const char *name, uint8_t out[64], size_t *len)
{
    size_t n = 0;
    int i = 0;
    while (name[i] && name[i] != '.') {
        int c = (unsigned char)name[i++];
        if (c == '\\') {
            if (name[i] >= '0' && name[i] <= '9') {
                if (!(name[i + 1] >= '0' && name[i + 1] <= '9' && name[i + 2] >= '0' &&
                      name[i + 2] <= '9'))
                    return UH_EFORMAT;
                c = (name[i] - '0') * 100 + (name[i + 1] - '0') * 10 + (name[i + 2] - '0');
                if (c > 255) return UH_EFORMAT;
                i += 3;
            } else if (name[i]) {
                c = (unsigned char)name[i++];
            } else {
                return UH_EFORMAT;
            }
        }
        if (n >= MDNS_MAX_LABEL) return UH_EFORMAT;
        out[n++] = (uint8_t)c;
    }
    out[n] = 0;
    *len = n;
    if (name[i] == '.') i++;
    return i;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int mdns_name_eq(const char *a, const char *b)
{
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) a++, b++;
    return *a == 0 && *b == 0;
}

/* ---- parsing ---- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the name at *off into out (text form, 256 bytes) and moves *off past it (past the
 * first pointer, if any). */
static int read_name(const uint8_t *pkt, size_t len, size_t *off, char out[256], uh_err *err)
{
    size_t pos = *off, lowest = *off, end = 0, o = 0, wire = 1;
    int n_labels = 0, jumped = 0;
    out[0] = 0;
    for (;;) {
        if (pos >= len)
            return err_setf(err, UH_EFORMAT, "mdns: name at %zu runs past the end", *off);
        uint8_t l = pkt[pos];
        if (l == 0) {
            pos++;
            break;
        }
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len) return err_setf(err, UH_EFORMAT, "mdns: pointer cut at %zu", pos);
            size_t target = (size_t)(l & 0x3f) << 8 | pkt[pos + 1];
            if (target >= lowest)
                return err_setf(err, UH_EFORMAT, "mdns: pointer at %zu to %zu is not backwards",
                                pos, target);
            if (!jumped) end = pos + 2;
            jumped = 1;
            pos = lowest = target;
            continue;
        }
        if (l & 0xc0)
            return err_setf(err, UH_EFORMAT, "mdns: bad label type 0x%02x at %zu", l, pos);
        if (pos + 1 + l > len)
            return err_setf(err, UH_EFORMAT, "mdns: label at %zu past the end", pos);
        wire += 1u + l;
        if (wire > MDNS_MAX_NAME || ++n_labels > MDNS_MAX_LABELS)
            return err_setf(err, UH_EFORMAT, "mdns: name at %zu longer than 255 bytes", *off);
        if (o > 0) {
            if (o + 1 >= 256) goto too_long;
            out[o++] = '.';
        }
        if (mdns_label_escape(pkt + pos + 1, l, out + o, 256 - o) != 0) goto too_long;
        o += strlen(out + o);
        pos += 1u + l;
    }
    *off = jumped ? end : pos;
    return 0;
too_long:
    return err_setf(err, UH_EFORMAT, "mdns: name at %zu longer than 255 bytes as text", *off);
}

static int read_txt(const uint8_t *p, size_t n, char out[512])
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t l = p[i++];
        if (i + l > n) return UH_EFORMAT;
        if (l == 0) continue;
        /* one string per line: a string with a newline or NUL in it would be ambiguous */
        if (memchr(p + i, '\n', l) || memchr(p + i, 0, l)) return UH_EFORMAT;
        if (o + l + 1 >= 512) break; /* capped: the rest is dropped */
        if (o) out[o++] = '\n';
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    out[o] = 0;
    return 0;
}

static int read_record(const uint8_t *pkt, size_t len, size_t *off, mdns_record *r, int question,
                       uh_err *err)
{
    memset(r, 0, sizeof *r);
    int rc = read_name(pkt, len, off, r->name, err);
    if (rc) return rc;
    size_t need = question ? 4 : 10;
    if (*off + need > len) return err_setf(err, UH_EFORMAT, "mdns: record at %zu cut short", *off);
    const uint8_t *p = pkt + *off;
    r->type = rd16(p);
    r->klass = rd16(p + 2) & 0x7fff;
    r->flag = rd16(p + 2) >> 15;
    *off += need;
    if (question) return 0;
    r->ttl = rd32(p + 4);
    size_t rdlen = rd16(p + 8), start = *off;
    if (start + rdlen > len)
        return err_setf(err, UH_EFORMAT, "mdns: rdata at %zu past the end", start);
    *off = start + rdlen;
    size_t at = start;
    switch (r->type) {
    case MDNS_TYPE_A:
        if (rdlen != 4) return err_setf(err, UH_EFORMAT, "mdns: A record of %zu bytes", rdlen);
        memcpy(r->ip4, pkt + start, 4);
        return 0;
    case MDNS_TYPE_PTR:
        rc = read_name(pkt, start + rdlen, &at, r->target, err);
        break;
    case MDNS_TYPE_SRV:
        if (rdlen < 7) return err_setf(err, UH_EFORMAT, "mdns: SRV record of %zu bytes", rdlen);
        r->port = rd16(pkt + start + 4);
        at = start + 6;
        rc = read_name(pkt, start + rdlen, &at, r->target, err);
        break;
    case MDNS_TYPE_TXT:
        if (read_txt(pkt + start, rdlen, r->txt) != 0)
            return err_setf(err, UH_EFORMAT, "mdns: bad TXT record at %zu", start);
        return 0;
    default:
        return 0;
    }
    if (rc) return rc;
    if (at != start + rdlen)
        return err_setf(err, UH_EFORMAT, "mdns: rdata at %zu has trailing bytes", start);
    return 0;
}

int mdns_parse(const uint8_t *pkt, size_t len, mdns_packet *out, uh_err *err)
{
    out->n_questions = out->n_records = 0;
    if (!pkt || len < 12) return err_setf(err, UH_EFORMAT, "mdns: packet of %zu bytes", len);
    if (len > 65535) return err_setf(err, UH_EFORMAT, "mdns: packet of %zu bytes", len);
    out->id = rd16(pkt);
    out->flags = rd16(pkt + 2);
    unsigned n_q = rd16(pkt + 4);
    unsigned n_r = (unsigned)rd16(pkt + 6) + rd16(pkt + 8) + rd16(pkt + 10);
    /* every question takes at least 5 bytes and every record 11: reject impossible counts early */
    if ((size_t)n_q * 5 + (size_t)n_r * 11 > len - 12)
        return err_setf(err, UH_EFORMAT, "mdns: counts %u+%u do not fit %zu bytes", n_q, n_r, len);
    size_t off = 12;
    mdns_record tmp;
    for (unsigned i = 0; i < n_q; i++) {
        mdns_record *q =
            out->n_questions < MDNS_MAX_RECORDS ? &out->questions[out->n_questions] : &tmp;
        int rc = read_record(pkt, len, &off, q, 1, err);
        if (rc) return rc;
        if (q != &tmp) out->n_questions++;
    }
    for (unsigned i = 0; i < n_r; i++) {
        mdns_record *r = out->n_records < MDNS_MAX_RECORDS ? &out->records[out->n_records] : &tmp;
        int rc = read_record(pkt, len, &off, r, 0, err);
        if (rc) return rc;
        int keep = r->type == MDNS_TYPE_A || r->type == MDNS_TYPE_PTR || r->type == MDNS_TYPE_SRV ||
                   r->type == MDNS_TYPE_TXT || r->type == MDNS_TYPE_AAAA;
        if (r != &tmp && keep) out->n_records++;
    }
    return 0;
}

/* ---- building ---- */

static void wr16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void mdns_build_init(mdns_builder *b, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags)
{
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = cap;
    if (cap < 12) {
        b->err = UH_ELIMIT;
        return;
    }
    memset(buf, 0, 12);
    wr16(buf, id);
    wr16(buf + 2, flags);
    b->len = 12;
}

static int put(mdns_builder *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) return UH_ELIMIT;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

/* Offset of an earlier name equal to the text-form name, or 0. */
static size_t find_name(const mdns_builder *b, const char *name)
{
    char tmp[256];
    for (int i = 0; i < b->n_offs; i++) {
        size_t off = b->offs[i];
        if (read_name(b->buf, b->len, &off, tmp, NULL) == 0 && mdns_name_eq(tmp, name))
            return b->offs[i];
    }
    return 0;
}

static int put_name(mdns_builder *b, const char *name, int compress)
{
    size_t wire = 1;
    int n_labels = 0;
    while (*name) {
        if (compress) {
            size_t at = find_name(b, name);
            if (at) {
                uint8_t ptr[2] = {(uint8_t)(0xc0 | at >> 8), (uint8_t)at};
                return put(b, ptr, 2);
            }
            if (b->len < 0x3fff && b->n_offs < MDNS_MAX_COMPRESS)
                b->offs[b->n_offs++] = (uint16_t)b->len;
        }
        uint8_t label[64];
        size_t l;
        int next = mdns_label_unescape(name, label, &l);
        if (next < 0) return next;
        if (l == 0 || ++n_labels > MDNS_MAX_LABELS) return UH_EFORMAT;
        wire += 1 + l;
        if (wire > MDNS_MAX_NAME) return UH_EFORMAT;
        uint8_t lb = (uint8_t)l;
        if (put(b, &lb, 1) || put(b, label, l)) return UH_ELIMIT;
        name += next;
    }
    uint8_t zero = 0;
    return put(b, &zero, 1);
}

static int put_txt(mdns_builder *b, const char *txt)
{
    if (!*txt) {
        uint8_t zero = 0; /* an empty TXT record still holds one empty string */
        return put(b, &zero, 1);
    }
    while (*txt) {
        const char *nl = strchr(txt, '\n');
        size_t l = nl ? (size_t)(nl - txt) : strlen(txt);
        if (l > 255) return UH_EFORMAT;
        uint8_t lb = (uint8_t)l;
        if (put(b, &lb, 1) || put(b, txt, l)) return UH_ELIMIT;
        txt += l + (nl ? 1 : 0);
    }
    return 0;
}

int mdns_build_add(mdns_builder *b, int section, const mdns_record *r, int compress)
{
    if (b->err) return b->err;
    mdns_build_mark m;
    mdns_build_save(b, &m);
    int rc = 0;
    if (section < b->section || section > MDNS_SEC_ADDITIONAL) {
        rc = UH_EINVAL;
        goto fail;
    }
    b->section = section;
    if ((rc = put_name(b, r->name, compress)) != 0) goto fail;
    uint8_t fixed[10];
    wr16(fixed, r->type);
    wr16(fixed + 2, (unsigned)(r->klass & 0x7fff) | (r->flag ? 0x8000u : 0));
    if (section == MDNS_SEC_QUESTION) {
        if ((rc = put(b, fixed, 4)) != 0) goto fail;
        b->count[0]++;
        return 0;
    }
    fixed[4] = (uint8_t)(r->ttl >> 24);
    fixed[5] = (uint8_t)(r->ttl >> 16);
    fixed[6] = (uint8_t)(r->ttl >> 8);
    fixed[7] = (uint8_t)r->ttl;
    if ((rc = put(b, fixed, 10)) != 0) goto fail;
    size_t rdstart = b->len;
    switch (r->type) {
    case MDNS_TYPE_A:
        rc = put(b, r->ip4, 4);
        break;
    case MDNS_TYPE_PTR:
        rc = put_name(b, r->target, compress);
        break;
    case MDNS_TYPE_SRV: {
        uint8_t srv[6] = {0, 0, 0, 0, (uint8_t)(r->port >> 8), (uint8_t)r->port};
        rc = put(b, srv, 6);
        if (!rc) rc = put_name(b, r->target, compress);
        break;
    }
    case MDNS_TYPE_TXT:
        rc = put_txt(b, r->txt);
        break;
    default:
        break;
    }
    if (rc) goto fail;
    wr16(b->buf + rdstart - 2, (unsigned)(b->len - rdstart));
    b->count[section]++;
    return 0;
fail:
    mdns_build_restore(b, &m);
    b->err = rc;
    return rc;
}

void mdns_build_save(const mdns_builder *b, mdns_build_mark *m)
{
    m->len = b->len;
    m->section = b->section;
    m->n_offs = b->n_offs;
    memcpy(m->count, b->count, sizeof m->count);
}

void mdns_build_restore(mdns_builder *b, const mdns_build_mark *m)
{
    b->len = m->len;
    b->section = m->section;
    b->n_offs = m->n_offs;
    memcpy(b->count, m->count, sizeof m->count);
    b->err = 0;
}

int mdns_build_end(mdns_builder *b)
{
    if (b->err) return b->err;
    for (int i = 0; i < 4; i++) wr16(b->buf + 4 + 2 * i, b->count[i]);
    return (int)b->len;
}
