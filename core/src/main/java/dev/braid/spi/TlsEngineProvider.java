package dev.braid.spi;

import dev.braid.TlsOptions;

import java.nio.file.Path;

/**
 * TLS engines other than the JDK's, for {@link TlsOptions#fromPem(Path, Path, Path)}: found with
 * {@link java.util.ServiceLoader} (module braid-tls-openssl provides one, {@code openssl}), chosen by name with
 * {@link TlsOptions#fromPem(Path, Path, Path, String)} or the {@code braid.tls.engine} property, and by
 * {@code auto} (the default) whenever one is available, the way gRPC-java and Netty prefer OpenSSL to the
 * JDK's provider when netty-tcnative is present. Each provider reports once whether it can run here
 * ({@link #isAvailable()}, {@link #unavailabilityCause()}), as a {@link Backend} does.
 *
 * <p>Threading: implementations are stateless or thread-safe; every method may be called from any thread.
 */
public interface TlsEngineProvider {
    /**
     * The name {@code braid.tls.engine} and {@link TlsOptions#fromPem(Path, Path, Path, String)} take, lower
     * case, for example {@code openssl}; never {@code jdk} or {@code auto}.
     *
     * @return the name
     */
    String name();

    /** {@return whether the engines can run here (asked once, then the same answer)} */
    boolean isAvailable();

    /**
     * Why the engines cannot run here, or null if they can.
     *
     * @return the cause, or null
     */
    Throwable unavailabilityCause();

    /**
     * What the engines are, for messages and {@link TlsOptions#toString()}, e.g. {@code "OpenSSL (BoringSSL)"}.
     *
     * @return the description
     */
    String description();

    /**
     * The engines for these PEM files (the formats of {@link TlsOptions#fromPem(Path, Path, Path)}); called only
     * when {@link #isAvailable()}, once per {@code fromPem}.
     *
     * @param certificateChain this side's certificate chain, or null for none
     * @param privateKey       the chain's key, or null when there is no chain
     * @param trustedCas       the trusted CAs, or null for the JDK's default trust store
     * @return a factory that makes one engine per connection
     * @throws dev.braid.BraidException (category CONFIG) naming the file and what is wrong with it
     */
    TlsOptions.EngineFactory engines(Path certificateChain, Path privateKey, Path trustedCas);
}
