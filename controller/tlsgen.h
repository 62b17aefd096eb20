/* The TLS material of one runner session, made by the controller that
 * provisions the runner: a throwaway CA (ECC P-256) and two certificates it
 * signs, one for the runner (serverAuth) and one for the controller
 * (clientAuth). The runner gets its key, its certificate and the CA at
 * launch; the controller keeps its own key. With mutual TLS on both sides,
 * only this controller reaches the runner's agent and executor, and the
 * controller knows it reaches the runner it launched. (Trust in the runner's
 * measurements comes from its TPM, not from this.)
 *
 * tlsgen_run() writes into dir: ca.crt, server.crt, server.key (0600),
 * client.crt, client.key (0600). */
#ifndef AICERT_TLSGEN_H
#define AICERT_TLSGEN_H

#include <stdint.h>

int tlsgen_run(const char *dir, uint32_t days);

#endif
