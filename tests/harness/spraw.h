/* nng's SP protocol over a raw Unix socket, for tests that must act as a
 * peer nng's own client would never be: one that floods, or never reads.
 * Over ipc:// the SP handshake is 8 bytes each way (0, 'S', 'P', 0, the
 * protocol number in two bytes, 0, 0; req0 is 0x30, rep0 0x31), and each
 * message is a type byte (1), an 8-byte big-endian length and the body.
 * A request's body starts with its 4-byte big-endian id, high bit set. */
#ifndef AICERT_SPRAW_H
#define AICERT_SPRAW_H

#include <stddef.h>
#include <stdint.h>

/* Connects to an ipc:// URL as a req0 peer, with 5 s send and receive
 * timeouts on the socket. A file descriptor, or -1 with errno set. */
int spraw_ipc_connect(const char *url);

/* Sends one request: id, then len bytes. On a failed send, stops and
 * returns -1 with errno set; *sent (if not NULL) counts the bytes of body
 * that went out. */
int spraw_ipc_send(int fd, uint32_t id, const uint8_t *body, size_t len, size_t *sent);

#endif
