package dev.braid.cli;

import dev.braid.BraidException;
import dev.braid.TlsOptions;
import dev.braid.tls.openssl.OpenSslTls;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Whose TLS engines the command line uses ({@code --tls-engine}): BoringSSL's (braid-tls-openssl) where it
 * loads, else the JDK's, unless the user names one. BoringSSL's AES-GCM does about twice the JDK's bytes per
 * CPU here, which is what a TLS connection carrying streams spends its CPU on (docs/benchmarks.md); both speak
 * the same TLS, take the same PEM files and report the same errors, so either side may use either. Immutable.
 */
enum TlsEngine {
    /** BoringSSL's when it loads here, else the JDK's (the default). */
    AUTO,
    /** The JDK's {@code SSLEngine} (SunJSSE). */
    JDK,
    /** BoringSSL's, through Netty's netty-tcnative; refused with the reason where it does not load. */
    OPENSSL;

    /** {@code auto}, {@code jdk} or {@code openssl}, any case; null for anything else. */
    static TlsEngine parse(final String s) {
        for (TlsEngine e : values()) {
            if (e.name().equalsIgnoreCase(s.trim())) {
                return e;
            }
        }
        return null;
    }

    /** The name the command line prints for the engines of {@code options}: "BoringSSL" or "JDK". */
    static String label(final TlsOptions options) {
        return "openssl".equals(options.engine()) ? OpenSslTls.version() : "JDK";
    }

    /** The word for {@code --tls-engine} (and the demo's server process). */
    String option() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * As {@link TlsOptions#fromPem} with this choice's engines (AUTO: core's choice, BoringSSL where it loads).
     *
     * @throws BraidException (CONFIG) for a file's problem, or when OPENSSL was asked for and does not load
     */
    TlsOptions fromPem(final Path chain, final Path key, final Path cas) {
        return TlsOptions.fromPem(chain, key, cas, option());
    }
}
