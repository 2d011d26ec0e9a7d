package dev.braid.tls.openssl;

import dev.braid.BraidException;
import dev.braid.TlsOptions;
import dev.braid.internal.tls.PemFiles;
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
 * TLS options whose engines are BoringSSL's, through Netty's netty-tcnative, instead of the JDK's: the same
 * TLS (1.3 and 1.2, the same certificates, host name verification, mutual TLS, the same errors reported),
 * with about twice the AES-GCM throughput per CPU on this project's machines (docs/benchmarks.md), which is
 * what a TLS connection carrying streams spends its CPU on. Works with every backend: braid's TLS layer sits
 * between the engine and the backend, and takes any {@link SSLEngine}.
 *
 * <pre>{@code
 * BraidConfig server = new BraidConfig().tls(OpenSslTls.fromPem(cert, key, ca).clientAuth(TlsOptions.ClientAuth.REQUIRED));
 * }</pre>
 *
 * <h2>Engines and memory</h2>
 * Each connection gets one engine ({@code ReferenceCountedOpenSslEngine}), holding native memory (BoringSSL's
 * {@code SSL} object and its buffers, about 40 KiB); braid releases it when the connection closes
 * ({@link TlsOptions.EngineFactory#released}), so nothing waits for the garbage collector. The two Netty
 * contexts (client, server) are made once, here, and shared by every connection: thread-safe.
 *
 * <h2>Availability</h2>
 * BoringSSL is loaded from netty-tcnative-boringssl-static's JNI library for Linux on x86-64 or AArch64; elsewhere,
 * or where it does not load, {@link #isAvailable()} is false, {@link #unavailabilityCause()} says why, and
 * {@link #fromPem} throws a {@link BraidException} (category CONFIG) with that cause.
 */
public final class OpenSslTls {
    private OpenSslTls() {
    }

    /** {@return whether BoringSSL loaded here} Any thread. */
    public static boolean isAvailable() {
        return OpenSsl.isAvailable();
    }

    /** {@return why BoringSSL did not load, or null when it did} Any thread. */
    public static Throwable unavailabilityCause() {
        return OpenSsl.unavailabilityCause();
    }

    /** {@return the library's name and version, e.g. "BoringSSL"} */
    public static String version() {
        return OpenSsl.versionString();
    }

    /**
     * As {@link TlsOptions#fromPem}, the same files and formats, with BoringSSL's engines.
     *
     * @param certificateChain this side's certificate chain, or null for none (a client without a
     *                         certificate; a server needs one)
     * @param privateKey       the key of the chain's first certificate, or null when there is no chain
     * @param trustedCas       the CAs whose certificates this side trusts, or null for the JDK's default
     *                         trust store
     * @return the options, with {@link TlsOptions}' defaults
     * @throws BraidException (category CONFIG) naming the file and what is wrong with it, or why BoringSSL is
     *                        not available
     */
    public static TlsOptions fromPem(final Path certificateChain, final Path privateKey, final Path trustedCas) {
        if (!isAvailable()) {
            throw new BraidException(BraidException.Category.CONFIG, "OpenSSL TLS engines are not available here: "
                    + unavailabilityCause(), unavailabilityCause());
        }
        PemFiles.requirePair(certificateChain, privateKey);
        final X509Certificate[] chain = certificateChain == null ? null
                : PemFiles.certificates(certificateChain).toArray(X509Certificate[]::new);
        final PrivateKey key = privateKey == null ? null : PemFiles.privateKey(privateKey);
        final X509Certificate[] cas = trustedCas == null ? null
                : PemFiles.certificates(trustedCas).toArray(X509Certificate[]::new);
        final String[] protocols = TlsOptions.DEFAULT_PROTOCOLS.toArray(String[]::new);
        final SslContext clientContext;
        final SslContext serverContext;
        try {
            SslContextBuilder c = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL_REFCNT)
                    .protocols(protocols);
            if (cas != null) {
                c = c.trustManager(cas);
            }
            if (chain != null) {
                c = c.keyManager(key, chain);
            }
            clientContext = c.build();
            if (chain != null) {
                SslContextBuilder s = SslContextBuilder.forServer(key, chain).sslProvider(SslProvider.OPENSSL_REFCNT)
                        .protocols(protocols);
                if (cas != null) {
                    s = s.trustManager(cas);
                }
                serverContext = s.build();
            } else {
                serverContext = null;
            }
        } catch (SSLException | RuntimeException e) {
            throw new BraidException(BraidException.Category.CONFIG, "cannot build OpenSSL TLS contexts from "
                    + certificateChain + ", " + privateKey + ", " + trustedCas + ": " + e, e);
        }
        final String source = "OpenSSL (" + version() + "), PEM "
                + (certificateChain == null ? "(no certificate)" : certificateChain)
                + (trustedCas == null ? ", default trust store" : ", CAs " + trustedCas);
        return TlsOptions.of(new Engines(clientContext, serverContext), source);
    }

    /** The factory: one engine per connection from the shared contexts; each released when its connection closes. */
    private record Engines(SslContext client, SslContext server) implements TlsOptions.EngineFactory {
        @Override
        public SSLEngine create(final boolean isClient, final String peerHost, final int peerPort) {
            if (isClient) {
                return peerHost != null ? client.newEngine(ByteBufAllocator.DEFAULT, peerHost, peerPort)
                        : client.newEngine(ByteBufAllocator.DEFAULT);
            }
            if (server == null) {
                throw new BraidException(BraidException.Category.CONFIG, "a TLS server needs a certificate: these "
                        + "OpenSSL options have none (OpenSslTls.fromPem with a certificate chain and its key)");
            }
            return server.newEngine(ByteBufAllocator.DEFAULT);
        }

        @Override
        public void released(final SSLEngine engine) {
            ReferenceCountUtil.release(engine); // frees BoringSSL's SSL object now, not when collected
        }
    }
}
