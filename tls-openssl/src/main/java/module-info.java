/**
 * braid's TLS on BoringSSL: {@link dev.braid.tls.openssl.OpenSslTls} makes {@link dev.braid.TlsOptions} whose
 * engines are Netty's OpenSSL {@code SSLEngine}s (netty-tcnative, BoringSSL statically linked), for any backend.
 */
@SuppressWarnings("requires-automatic")
module dev.braid.tls.openssl {
    requires transitive dev.braid; // its API returns TlsOptions
    requires io.netty.common;
    requires io.netty.buffer;
    requires io.netty.handler;

    exports dev.braid.tls.openssl;
}
