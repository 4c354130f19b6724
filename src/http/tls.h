/* TLS contexts for the front door (OpenSSL 3), and the development certificates that
 * `make run` uses: a local CA and a server certificate for localhost, 127.0.0.1 and ::1. */
#ifndef SG_HTTP_TLS_H
#define SG_HTTP_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "core/error.h"

/* Creates a server context with the certificate chain in `cert_file` and the private key
 * in `key_file` (PEM). `min_version` is 13 (TLS 1.3 only, the default) or 12. ALPN offers
 * http/1.1. The caller owns the context (SSL_CTX_free). NULL with `err` on failure. */
/* With `client_ca`, clients may (or, with `require_client`, must) present a certificate
 * issued by it (mutual TLS); a certificate that does not verify fails the handshake.
 * On failure `*bad` (when not NULL) says which file was at fault, for messages that name
 * the configuration key. */
enum sg_tls_file { SG_TLS_FILE_NONE, SG_TLS_FILE_CERT, SG_TLS_FILE_KEY, SG_TLS_FILE_CLIENT_CA };
SSL_CTX *sg_tls_server_ctx(const char *cert_file, const char *key_file, int min_version,
                           const char *client_ca, bool require_client, enum sg_tls_file *bad,
                           struct sg_error *err);

/* Makes sure `dir` holds a development CA (ca.pem, ca.key) and a server certificate
 * signed by it (cert.pem, key.pem) valid for localhost, 127.0.0.1 and ::1. Existing files
 * are kept while they are valid for at least another day. Keys are written with mode
 * 0600. Returns 0 or an SG_E* code with `err` filled. */
int sg_tls_make_dev_certs(const char *dir, struct sg_error *err);

#endif
