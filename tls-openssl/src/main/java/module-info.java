/**
 * braid's TLS on BoringSSL: {@link dev.braid.tls.openssl.OpenSslTls} makes {@link dev.braid.TlsOptions} whose
 * engines are Netty's OpenSSL {@code SSLEngine}s (netty-tcnative, BoringSSL statically linked), for any backend;
 * on the class or module path it is also the {@code openssl} {@link dev.braid.spi.TlsEngineProvider}, which
 * {@link dev.braid.TlsOptions#fromPem(java.nio.file.Path, java.nio.file.Path, java.nio.file.Path)} takes by
 * default where BoringSSL loads.
 */
@SuppressWarnings("requires-automatic")
module dev.braid.tls.openssl {
    requires transitive dev.braid; // its API returns TlsOptions
    requires io.netty.common;
    requires io.netty.buffer;
    requires io.netty.handler;

    exports dev.braid.tls.openssl;

    // TlsOptions.fromPem's "openssl" engine, and "auto"'s choice where BoringSSL loads
    provides dev.braid.spi.TlsEngineProvider with dev.braid.tls.openssl.OpenSslEngineProvider;
}
