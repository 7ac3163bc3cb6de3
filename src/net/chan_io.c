/* chan_io.c - the transport of an established channel: messages cut into encrypted frames
 * ([type][flags][payload], flag MORE on all but the last), frames read back under a deadline
 * with partial progress kept across timeouts, reassembly under the receiver's cap, and the
 * deterministic rekey every rekey_every frames per direction (chan.h has the wire format). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/chan_impl.h"

/* ---- send ---- */

/* Encrypts and writes one frame; the caller holds send_mu. */
static int send_frame(chan *c, uint8_t type, uint8_t flags, const uint8_t *p, size_t len,
                      int64_t deadline)
{
    uint8_t *body = c->send_buf + 2;
    body[0] = type;
    body[1] = flags;
    if (len) memcpy(body + 2, p, len);
    size_t n = 2 + len + NOISE_TAG_LEN;
    if (noise_cipher_encrypt(&c->tx, NULL, 0, body, 2 + len, body)) return UH_ELIMIT;
    if (++c->tx_frames >= c->rekey_every) {
        noise_cipher_rekey(&c->tx);
        c->tx_frames = 0;
    }
    c->send_buf[0] = (uint8_t)(n >> 8);
    c->send_buf[1] = (uint8_t)n;
    return chan_write_full(c->fd, c->send_buf, n + 2, deadline);
}

int chan_send(chan *c, uint8_t type, const void *payload, size_t len, uh_err *err)
{
    if (len > CHAN_MAX_MESSAGE)
        return err_setf(err, UH_ELIMIT, "chan %s: message of %zu bytes over %u", c->peer, len,
                        CHAN_MAX_MESSAGE);
    if (len && !payload) return err_setf(err, UH_EINVAL, "chan: no payload");
    pthread_mutex_lock(&c->send_mu);
    int rc = 0;
    if (atomic_load(&c->shut) || c->tx_dead) {
        rc = err_setf(err, UH_EIO, "chan %s: the channel is closed", c->peer);
        goto out;
    }
    const uint8_t *p = payload;
    size_t left = len;
    do {
        size_t n = left < CHAN_MAX_FRAME_PAYLOAD ? left : CHAN_MAX_FRAME_PAYLOAD;
        uint8_t flags = left > n ? CHAN_FLAG_MORE : 0;
        /* the deadline runs per frame: a peer that takes no data for that long is gone */
        rc = send_frame(c, type, flags, p, n, chan_deadline(c->io_timeout_ms));
        if (rc) {
            c->tx_dead = 1;
            if (rc == UH_ELIMIT)
                rc = err_setf(err, UH_ELIMIT, "chan %s: nonce space exhausted", c->peer);
            else if (rc == UH_ETIMEDOUT)
                rc = err_setf(err, UH_EIO, "chan %s: peer took no data for %d ms", c->peer,
                              c->io_timeout_ms);
            else
                rc = err_setf(err, UH_EIO, "chan %s: connection lost", c->peer);
            goto out;
        }
        p += n;
        left -= n;
    } while (left);
out: /* send_buf holds ciphertext only: encryption is in place */
    pthread_mutex_unlock(&c->send_mu);
    return rc;
}

/* ---- receive ---- */

/* Continues reading the current frame. 0 when whole (frame[0..frame_len)), UH_ETIMEDOUT at the
 * deadline (progress kept), UH_EIO / UH_EFORMAT otherwise (message in err). */
static int read_frame(chan *c, int64_t deadline, uh_err *err)
{
    int rc = 0;
    size_t got = 0;
    while (c->hdr_have < 2) {
        rc = chan_read_some(c->fd, c->hdr + c->hdr_have, 2 - c->hdr_have, deadline, &got);
        if (rc) goto io_fail;
        c->hdr_have += got;
        if (c->hdr_have == 2) {
            c->frame_len = (size_t)c->hdr[0] << 8 | c->hdr[1];
            c->frame_have = 0;
            if (c->frame_len < 2 + NOISE_TAG_LEN)
                return err_setf(err, UH_EFORMAT, "chan %s: %s frame (%zu bytes)", c->peer,
                                c->frame_len ? "short" : "zero-length", c->frame_len);
        }
    }
    while (c->frame_have < c->frame_len) {
        rc = chan_read_some(c->fd, c->frame + c->frame_have, c->frame_len - c->frame_have, deadline,
                            &got);
        if (rc) goto io_fail;
        c->frame_have += got;
    }
    c->hdr_have = 0;
    return 0;
io_fail:
    if (rc == UH_ETIMEDOUT) return rc;
    if (atomic_load(&c->shut)) return err_setf(err, UH_EIO, "chan %s: shut down", c->peer);
    if (c->hdr_have == 0 && c->msg_type < 0)
        return err_setf(err, UH_EIO, "chan %s: peer closed the connection", c->peer);
    return err_setf(err, UH_EIO, "chan %s: connection ended in the middle of a message", c->peer);
}

/* Appends a frame's payload to the message in progress, under the cap. */
static int append(chan *c, const uint8_t *p, size_t n, uh_err *err)
{
    int rc = buf_append(&c->msg, p, n);
    if (rc == UH_ELIMIT)
        return err_setf(err, UH_EFORMAT, "chan %s: message over %zu bytes", c->peer,
                        c->max_message);
    if (rc) return err_setf(err, UH_ENOMEM, "chan: out of memory for a message");
    return 0;
}

/* Decrypts the frame just read and adds it to the message; *complete is set on the last. */
static int take_frame(chan *c, int *complete, uh_err *err)
{
    *complete = 0;
    size_t n = c->frame_len - NOISE_TAG_LEN;
    if (noise_cipher_decrypt(&c->rx, NULL, 0, c->frame, c->frame_len, c->frame))
        return err_setf(err, UH_EFORMAT, "chan %s: a frame failed authentication", c->peer);
    if (++c->rx_frames >= c->rekey_every) {
        noise_cipher_rekey(&c->rx);
        c->rx_frames = 0;
    }
    uint8_t type = c->frame[0], flags = c->frame[1];
    if (flags & ~CHAN_FLAG_MORE)
        return err_setf(err, UH_EFORMAT, "chan %s: unknown frame flags 0x%02x", c->peer, flags);
    if (c->msg_type >= 0 && type != c->msg_type)
        return err_setf(err, UH_EFORMAT, "chan %s: frame of type %u inside a message of type %d",
                        c->peer, type, c->msg_type);
    c->msg_type = type;
    int rc = append(c, c->frame + 2, n - 2, err);
    if (rc) return rc;
    *complete = !(flags & CHAN_FLAG_MORE);
    return 0;
}

int chan_recv(chan *c, uint8_t *type, uint8_t **payload, size_t *len, int timeout_ms, uh_err *err)
{
    *payload = NULL;
    *len = 0;
    if (c->rx_dead || atomic_load(&c->shut))
        return err_setf(err, UH_EIO, "chan %s: the channel is closed", c->peer);
    int64_t deadline = chan_deadline(timeout_ms);
    for (;;) {
        int rc = read_frame(c, deadline, err);
        int complete = 0;
        if (rc == UH_ETIMEDOUT)
            return err_setf(err, UH_ETIMEDOUT, "chan %s: nothing received within %d ms", c->peer,
                            timeout_ms);
        if (!rc) rc = take_frame(c, &complete, err);
        if (rc) {
            c->rx_dead = rc;
            return rc;
        }
        if (!complete) continue;
        /* an empty message is still a buffer with its NUL */
        uint8_t *m = (uint8_t *)buf_steal(&c->msg, len);
        if (!m) {
            c->rx_dead = UH_ENOMEM;
            return err_setf(err, UH_ENOMEM, "chan: out of memory for a message");
        }
        *type = (uint8_t)c->msg_type;
        *payload = m;
        c->msg_type = -1;
        return 0;
    }
}
