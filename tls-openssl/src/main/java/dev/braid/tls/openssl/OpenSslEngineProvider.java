package dev.braid.tls.openssl;

import dev.braid.BraidException;
import dev.braid.TlsOptions;
import dev.braid.internal.tls.PemFiles;
import dev.braid.spi.TlsEngineProvider;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;

/**
 * The {@code openssl} {@link TlsEngineProvider}: BoringSSL's engines through Netty's netty-tcnative, found by
 * {@link java.util.ServiceLoader} (so {@link TlsOptions#fromPem(Path, Path, Path)} takes it where it loads) and
 * used directly by {@link OpenSslTls#fromPem}. Stateless: every method may be called from any thread.
 */
public final class OpenSslEngineProvider implements TlsEngineProvider {
    /** The one instance {@link OpenSslTls} uses. */
    static final OpenSslEngineProvider INSTANCE = new OpenSslEngineProvider();

    /** For {@link java.util.ServiceLoader}. */
    public OpenSslEngineProvider() {
    }

    @Override
    public String name() {
        return "openssl";
    }

    @Override
    public boolean isAvailable() {
        return OpenSsl.isAvailable();
    }

    @Override
    public Throwable unavailabilityCause() {
        return OpenSsl.unavailabilityCause();
    }

    @Override
    public String description() {
        return "OpenSSL (" + (OpenSsl.isAvailable() ? OpenSsl.versionString() : "BoringSSL through netty-tcnative") + ")";
    }

    @Override
    public TlsOptions.EngineFactory engines(final Path certificateChain, final Path privateKey, final Path trustedCas) {
        final X509Certificate[] chain = certificateChain == null ? null
                : PemFiles.certificates(certificateChain).toArray(X509Certificate[]::new);
        final PrivateKey key = privateKey == null ? null : PemFiles.privateKey(privateKey);
        final X509Certificate[] cas = trustedCas == null ? null
                : PemFiles.certificates(trustedCas).toArray(X509Certificate[]::new);
        final String[] protocols = TlsOptions.DEFAULT_PROTOCOLS.toArray(String[]::new);
        try {
            SslContextBuilder c = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL_REFCNT)
                    .protocols(protocols);
            if (cas != null) {
                c = c.trustManager(cas);
            }
            if (chain != null) {
                c = c.keyManager(key, chain);
            }
            final SslContext clientContext = c.build();
            SslContext serverContext = null;
            if (chain != null) {
                SslContextBuilder s = SslContextBuilder.forServer(key, chain).sslProvider(SslProvider.OPENSSL_REFCNT)
                        .protocols(protocols);
                if (cas != null) {
                    s = s.trustManager(cas);
                }
                serverContext = s.build();
            }
            return new Engines(clientContext, serverContext);
        } catch (SSLException | RuntimeException e) {
            throw new BraidException(BraidException.Category.CONFIG, "cannot build OpenSSL TLS contexts from "
                    + certificateChain + ", " + privateKey + ", " + trustedCas + ": " + e, e);
        }
    }

    /**
     * One engine per connection from the two shared contexts (thread-safe); each released when its connection
     * closes, which frees BoringSSL's native state at once rather than when the engine is collected.
     */
    private record Engines(SslContext client, SslContext server) implements TlsOptions.EngineFactory {
        @Override
        public SSLEngine create(final boolean isClient, final String peerHost, final int peerPort) {
            if (isClient) {
                return peerHost != null ? client.newEngine(ByteBufAllocator.DEFAULT, peerHost, peerPort)
                        : client.newEngine(ByteBufAllocator.DEFAULT);
            }
            if (server == null) {
                throw new BraidException(BraidException.Category.CONFIG, "a TLS server needs a certificate: these "
                        + "OpenSSL options have none (fromPem with a certificate chain and its key)");
            }
            return server.newEngine(ByteBufAllocator.DEFAULT);
        }

        @Override
        public void released(final SSLEngine engine) {
            ReferenceCountUtil.release(engine);
        }
    }
}
