package dev.braid.tls.openssl;

import dev.braid.TlsOptions;
import io.netty.handler.ssl.OpenSsl;

import javax.net.ssl.SSLEngine;
import java.nio.file.Path;

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
 * <h2>The default where it loads</h2>
 * On the class or module path this module is also the {@code openssl} {@link dev.braid.spi.TlsEngineProvider}:
 * {@link TlsOptions#fromPem(Path, Path, Path)} then gives BoringSSL's engines too, wherever they load, unless
 * {@code -Dbraid.tls.engine=jdk} (or {@link TlsOptions#fromPem(Path, Path, Path, String)} with {@code "jdk"})
 * asks for the JDK's. {@code OpenSslTls.fromPem} always means BoringSSL.
 *
 * <h2>Availability</h2>
 * BoringSSL is loaded from netty-tcnative-boringssl-static's JNI library for Linux on x86-64 or AArch64; elsewhere,
 * or where it does not load, {@link #isAvailable()} is false, {@link #unavailabilityCause()} says why, and
 * {@link #fromPem} throws a {@link dev.braid.BraidException} (category CONFIG) with that cause.
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
     * @throws dev.braid.BraidException (category CONFIG) naming the file and what is wrong with it, or why BoringSSL is
     *                        not available
     */
    public static TlsOptions fromPem(final Path certificateChain, final Path privateKey, final Path trustedCas) {
        return TlsOptions.fromPem(certificateChain, privateKey, trustedCas, OpenSslEngineProvider.INSTANCE);
    }
}
