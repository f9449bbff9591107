/* Reproduces the 3.27.1 worker's DTLS crash without a browser or mediasoup (docs/worker-build.md,
 * "The DTLS crash"): an OpenSSL DTLS server on memory BIOs whose write BIO has mediasoup's
 * onSslBioOut callback, against an in-process OpenSSL DTLS client.
 * Build: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem \
 *          -out cert.pem -days 2 -subj /CN=x && gcc -o repro dtls-bio-callback.c -lssl -lcrypto
 * Run:   ./repro 0   mediasoup 3.27.1's return rule: SIGSEGV in SSL_read with a kTLS-enabled libssl
 *        ./repro 1   the build's patched rule: "handshake done" */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
static int fixed;
static BIO *to_client; /* "network" towards the client */
static long cb(BIO *b, int op, const char *argp, size_t len, int argi, long argl, int ret, size_t *p) {
  long res = fixed ? ((op & BIO_CB_RETURN) ? ret : 1) : ((op == BIO_CB_RETURN) ? ret : 1);
  if (op == (BIO_CB_CTRL | BIO_CB_RETURN) && argi == BIO_CTRL_GET_KTLS_SEND)
    fprintf(stderr, "BIO_get_ktls_send(server wbio): OpenSSL says %d, callback answers %ld\n", ret, res);
  if (op == BIO_CB_WRITE && argp && len > 0) { BIO_write(to_client, argp, (int)len); BIO_reset(b); }
  return res;
}
int main(int argc, char **argv) {
  fixed = argc > 1 && argv[1][0] == '1';
  SSL_CTX *sctx = SSL_CTX_new(DTLS_method()), *cctx = SSL_CTX_new(DTLS_method());
  SSL_CTX_use_certificate_file(sctx, "cert.pem", SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(sctx, "key.pem", SSL_FILETYPE_PEM);
  SSL_CTX_set_tlsext_use_srtp(sctx, "SRTP_AES128_CM_SHA1_80"); SSL_CTX_set_tlsext_use_srtp(cctx, "SRTP_AES128_CM_SHA1_80");
  SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
  BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
  BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
  to_client = c_in;
  SSL_set_mtu(s, 1350); DTLS_set_link_mtu(s, 1350);
  BIO_set_callback_ex(s_out, cb);
  SSL_set_bio(s, s_in, s_out); SSL_set_bio(c, c_in, c_out);
  SSL_set_accept_state(s); SSL_set_connect_state(c);
  char buf[4096];
  for (int i = 0; i < 20 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); i++) {
    SSL_do_handshake(c);
    char *d; long n;
    while ((n = BIO_get_mem_data(c_out, &d)) > 0) { BIO_write(s_in, d, (int)n); (void)BIO_reset(c_out); }
    SSL_read(s, buf, sizeof buf); /* as mediasoup's ProcessDtlsData */
  }
  printf("handshake %s (server %d, client %d), %s\n", SSL_is_init_finished(s) && SSL_is_init_finished(c) ? "done" : "NOT done",
         SSL_is_init_finished(s), SSL_is_init_finished(c), OpenSSL_version(OPENSSL_VERSION));
  return 0;
}
