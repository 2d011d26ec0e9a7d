package dev.braid;

import dev.braid.internal.tls.PemFiles;
import dev.braid.spi.TlsEngineProvider;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * TLS for every connection of a {@link Braid} (set with {@link BraidConfig#tls(TlsOptions)}): the same
 * options serve a client (what it trusts, and its certificate for mutual TLS) and a server (its certificate,
 * and whether it asks for clients' certificates). Immutable: each {@code with}-style method returns a copy.
 *
 * <p>Defaults: TLS 1.3 and 1.2 (1.3 preferred); a client verifies that the server's certificate names the
 * host it connected to; a server does not ask for client certificates; the handshake must complete within
 * 10 s. Renegotiation is always refused; TLS 1.3 key updates are handled.
 *
 * <pre>{@code
 * // server, mutual TLS
 * TlsOptions server = TlsOptions.fromPem(Path.of("server.pem"), Path.of("server.key"), Path.of("ca.pem"))
 *         .clientAuth(TlsOptions.ClientAuth.REQUIRED);
 * // client with its own certificate
 * TlsOptions client = TlsOptions.fromPem(Path.of("client.pem"), Path.of("client.key"), Path.of("ca.pem"));
 * }</pre>
 */
public final class TlsOptions {
    /** Whether a server asks for, and requires, client certificates. */
    public enum ClientAuth {
        /** Not asked for: any client that trusts the server may connect. */
        NONE,
        /** Asked for; a client without one is let in ({@link TlsIdentity#peerPrincipal()} is then null). */
        OPTIONAL,
        /** Required (mutual TLS): a client without a certificate signed by a trusted CA is refused. */
        REQUIRED
    }

    /** The protocols allowed by default, preferred first. */
    public static final List<String> DEFAULT_PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");
    /** How long a handshake may take by default. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    /** The system property {@link #fromPem(Path, Path, Path)} reads for its engine: auto (default), jdk or a provider's name. */
    public static final String ENGINE_PROPERTY = "braid.tls.engine";
    /** {@link #engine()} of options whose engines are the JDK's. */
    public static final String JDK = "jdk";
    /** The engine choice that takes the first available {@link TlsEngineProvider}, else the JDK's. */
    public static final String AUTO = "auto";
    /** {@link #engine()} of options made by {@link #of(EngineFactory, String)}. */
    public static final String CUSTOM = "custom";

    private final SSLContext context;
    private final EngineFactory engines;
    private final String engine;
    private final String source;
    private final ClientAuth clientAuth;
    private final boolean verifyHostname;
    private final List<String> protocols;
    private final Duration handshakeTimeout;
    private final String serverName;

    private TlsOptions(final SSLContext context, final EngineFactory engines, final String engine, final String source,
                       final ClientAuth clientAuth, final boolean verifyHostname, final List<String> protocols,
                       final Duration handshakeTimeout, final String serverName) {
        this.context = context;
        this.engines = engines;
        this.engine = engine;
        this.source = source;
        this.clientAuth = clientAuth;
        this.verifyHostname = verifyHostname;
        this.protocols = protocols;
        this.handshakeTimeout = handshakeTimeout;
        this.serverName = serverName;
    }

    /**
     * TLS with an {@link SSLContext} the application built (its key managers give this side's certificate,
     * its trust managers decide which peers are trusted).
     *
     * @param context the context
     * @return the options, with the defaults
     */
    public static TlsOptions of(final SSLContext context) {
        return new TlsOptions(Objects.requireNonNull(context, "context"), contextEngines(context), JDK,
                "SSLContext " + context.getProtocol(), ClientAuth.NONE, true, DEFAULT_PROTOCOLS,
                DEFAULT_HANDSHAKE_TIMEOUT, null);
    }

    /**
     * TLS with engines from another provider than the JDK's {@link SSLContext} (for example
     * {@code dev.braid.tls.openssl.OpenSslTls}, module braid-tls-openssl: BoringSSL through Netty). braid configures each engine as it does
     * one from an {@code SSLContext} (client or server mode, the protocols of {@link #protocols}, host name
     * verification, SNI, the client-certificate policy), so the factory only chooses the implementation and
     * its keys and trust.
     *
     * @param engines     makes one engine per connection
     * @param description what the engines are, for {@link #toString()} and messages (e.g. "OpenSSL, PEM ...")
     * @return the options, with the defaults
     */
    public static TlsOptions of(final EngineFactory engines, final String description) {
        return new TlsOptions(null, Objects.requireNonNull(engines, "engines"), CUSTOM,
                Objects.requireNonNull(description, "description"), ClientAuth.NONE, true, DEFAULT_PROTOCOLS,
                DEFAULT_HANDSHAKE_TIMEOUT, null);
    }

    /**
     * Makes the {@link SSLEngine} of one connection; braid then sets its mode and parameters.
     * Called on the thread that sets up the connection (a connecting thread or a server's I/O thread), once
     * per connection; must be safe to call from several threads at once.
     */
    @FunctionalInterface
    public interface EngineFactory {
        /**
         * Makes one connection's engine.
         *
         * @param client   true for the connecting side
         * @param peerHost the host a client connects to (for session resumption and, unless
         *                 {@link #serverName} is set, host name verification and SNI); null on a server, or for a
         *                 client without one (a Unix domain socket)
         * @param peerPort the peer's port, or -1 when unknown
         * @return a new engine, not yet used
         */
        SSLEngine create(boolean client, String peerHost, int peerPort);

        /**
         * The connection that used {@code engine} has closed and braid has closed both its directions: free
         * what it holds outside the heap (an OpenSSL engine's native state). Called once per engine, on the
         * connection's last thread; the default does nothing (the JDK's engines need nothing).
         *
         * @param engine an engine this factory made
         */
        default void released(final SSLEngine engine) {
        }
    }

    private static EngineFactory contextEngines(final SSLContext context) {
        return (client, host, port) -> client && host != null ? context.createSSLEngine(host, port)
                : context.createSSLEngine();
    }

    /**
     * TLS from PEM files, the common case (and libvirt's layout: {@code servercert.pem}, {@code serverkey.pem},
     * {@code cacert.pem}). The certificate file holds this side's certificate first, then any intermediate
     * CAs; the key file an unencrypted private key (PKCS#8 {@code PRIVATE KEY}, PKCS#1 {@code RSA PRIVATE KEY}
     * or SEC1 {@code EC PRIVATE KEY}); the CA file one or more trusted CA certificates.
     *
     * <p>The engines are those the {@code braid.tls.engine} property names ({@link #ENGINE_PROPERTY}), by
     * default {@code auto}: a {@link TlsEngineProvider}'s when one is on the class or module path and can run
     * here (braid-tls-openssl: BoringSSL, about twice the JDK's AES-GCM speed), else the JDK's. Both speak the
     * same TLS and report the same errors; {@link #engine()} says which was taken. See
     * {@link #fromPem(Path, Path, Path, String)} to choose in code.
     *
     * @param certificateChain this side's certificate chain, or null for none (a client without a
     *                         certificate; a server needs one)
     * @param privateKey       the key of the chain's first certificate, or null when there is no chain
     * @param trustedCas       the CAs whose certificates this side trusts, or null for the JDK's default
     *                         trust store
     * @return the options, with the defaults
     * @throws BraidException (category CONFIG) naming the file and what is wrong with it, or the property's
     *                        engine when it is not here
     */
    public static TlsOptions fromPem(final Path certificateChain, final Path privateKey, final Path trustedCas) {
        final String raw = System.getProperty(ENGINE_PROPERTY);
        final String engine = raw == null || raw.isBlank() ? AUTO : raw.trim().toLowerCase(java.util.Locale.ROOT);
        final TlsEngineProvider provider;
        try {
            provider = provider(engine);
        } catch (BraidException e) { // name the property: nothing in the code asked for this engine
            throw new BraidException(BraidException.Category.CONFIG, ENGINE_PROPERTY + "=" + raw + ": " + e.getMessage(), e);
        }
        return fromPem(certificateChain, privateKey, trustedCas, provider);
    }

    /**
     * As {@link #fromPem(Path, Path, Path)}, with the engines named: {@code jdk} (the JDK's {@link SSLContext}),
     * {@code auto} (the first available {@link TlsEngineProvider} by name, else the JDK's), or a provider's
     * {@link TlsEngineProvider#name() name} such as {@code openssl}.
     *
     * @param certificateChain this side's certificate chain, or null for none
     * @param privateKey       the key of the chain's first certificate, or null when there is no chain
     * @param trustedCas       the trusted CAs, or null for the JDK's default trust store
     * @param engine           {@code jdk}, {@code auto} or a provider's name
     * @return the options, with the defaults
     * @throws BraidException (category CONFIG) naming the file and what is wrong with it; for an engine that
     *                        is not here, the engines that are; for one that cannot run here, why
     */
    public static TlsOptions fromPem(final Path certificateChain, final Path privateKey, final Path trustedCas,
                                     final String engine) {
        return fromPem(certificateChain, privateKey, trustedCas, provider(Objects.requireNonNull(engine, "engine")));
    }

    /**
     * The provider {@code engine} names: null for {@code jdk}, and for {@code auto} when no provider can run here.
     *
     * @throws BraidException (category CONFIG) for a name that is not here, with the names that are
     */
    private static TlsEngineProvider provider(final String engine) {
        if (engine.equals(JDK)) {
            return null;
        }
        for (TlsEngineProvider p : Providers.ALL) {
            if (engine.equals(AUTO) ? p.isAvailable() : p.name().equals(engine)) {
                return p;
            }
        }
        if (engine.equals(AUTO)) {
            return null;
        }
        final List<String> here = new java.util.ArrayList<>(List.of(AUTO, JDK));
        here.addAll(engineProviders());
        throw new BraidException(BraidException.Category.CONFIG, "no TLS engine '" + engine + "' here (engines: "
                + String.join(", ", here) + (engine.equals("openssl") ? "; 'openssl' comes with the artifact "
                + "dev.braid:braid-tls-openssl" : "") + ")");
    }

    /**
     * As {@link #fromPem(Path, Path, Path)}, with this provider's engines.
     *
     * @param certificateChain this side's certificate chain, or null for none
     * @param privateKey       the key of the chain's first certificate, or null when there is no chain
     * @param trustedCas       the trusted CAs, or null for the JDK's default trust store
     * @param provider         the engines' provider, or null for the JDK's
     * @return the options, with the defaults; {@link #engine()} is the provider's name ({@link #JDK} for null)
     * @throws BraidException (category CONFIG) naming the file and what is wrong with it, or why the
     *                        provider cannot run here
     */
    public static TlsOptions fromPem(final Path certificateChain, final Path privateKey, final Path trustedCas,
                                     final TlsEngineProvider provider) {
        if (provider == null) { // the JDK's
            final SSLContext ctx = PemFiles.sslContext(certificateChain, privateKey, trustedCas);
            return new TlsOptions(ctx, contextEngines(ctx), JDK, pemSource(certificateChain, trustedCas),
                    ClientAuth.NONE, true, DEFAULT_PROTOCOLS, DEFAULT_HANDSHAKE_TIMEOUT, null);
        }
        if (!provider.isAvailable()) {
            throw new BraidException(BraidException.Category.CONFIG, "TLS engine '" + provider.name() + "' ("
                    + provider.description() + ") cannot run here: " + provider.unavailabilityCause(),
                    provider.unavailabilityCause());
        }
        PemFiles.requirePair(certificateChain, privateKey);
        final EngineFactory f = provider.engines(certificateChain, privateKey, trustedCas);
        return new TlsOptions(null, Objects.requireNonNull(f, "engines"), provider.name(), provider.description()
                + ", " + pemSource(certificateChain, trustedCas), ClientAuth.NONE, true, DEFAULT_PROTOCOLS,
                DEFAULT_HANDSHAKE_TIMEOUT, null);
    }

    private static String pemSource(final Path certificateChain, final Path trustedCas) {
        return "PEM " + (certificateChain == null ? "(no certificate)" : certificateChain)
                + (trustedCas == null ? ", default trust store" : ", CAs " + trustedCas);
    }

    /** The providers on the class or module path, by name; loaded once, on first use. */
    private static final class Providers {
        static final List<TlsEngineProvider> ALL = load();

        private static List<TlsEngineProvider> load() {
            final List<TlsEngineProvider> l = new java.util.ArrayList<>();
            for (TlsEngineProvider p : java.util.ServiceLoader.load(TlsEngineProvider.class, TlsOptions.class.getClassLoader())) {
                l.add(p);
            }
            l.sort(java.util.Comparator.comparing(TlsEngineProvider::name));
            return List.copyOf(l);
        }
    }

    /** {@return the names of the TLS engine providers found here, by name (not counting the JDK's)} Any thread. */
    public static List<String> engineProviders() {
        return Providers.ALL.stream().map(TlsEngineProvider::name).toList();
    }

    /**
     * Server: whether clients must present a certificate (default {@link ClientAuth#NONE}).
     *
     * @param v the policy
     * @return a copy with it
     */
    public TlsOptions clientAuth(final ClientAuth v) {
        return new TlsOptions(context, engines, engine, source, Objects.requireNonNull(v, "clientAuth"), verifyHostname, protocols,
                handshakeTimeout, serverName);
    }

    /**
     * Client: whether the server's certificate must name the host connected to (default true). Turn it
     * off only where something else pins the server's identity.
     *
     * @param v true to verify
     * @return a copy with it
     */
    public TlsOptions verifyHostname(final boolean v) {
        return new TlsOptions(context, engines, engine, source, clientAuth, v, protocols, handshakeTimeout, serverName);
    }

    /**
     * The protocols allowed, from {@code TLSv1.3} and {@code TLSv1.2} (default both).
     *
     * @param v the protocol names
     * @return a copy with them
     * @throws BraidException (category CONFIG) for an empty list or a protocol other than those two
     */
    public TlsOptions protocols(final String... v) {
        if (v.length == 0) {
            throw new BraidException(BraidException.Category.CONFIG, "TLS protocols must not be empty");
        }
        for (String p : v) {
            if (!DEFAULT_PROTOCOLS.contains(p)) {
                throw new BraidException(BraidException.Category.CONFIG, "TLS protocol " + p
                        + " is not supported (use " + String.join(" or ", DEFAULT_PROTOCOLS) + ")");
            }
        }
        return new TlsOptions(context, engines, engine, source, clientAuth, verifyHostname, List.of(v), handshakeTimeout, serverName);
    }

    /**
     * How long the TLS handshake may take before the connection is closed (default 10 s).
     *
     * @param v a positive duration
     * @return a copy with it
     * @throws BraidException (category CONFIG) if {@code v} is not positive
     */
    public TlsOptions handshakeTimeout(final Duration v) {
        if (v == null || v.isNegative() || v.isZero()) {
            throw new BraidException(BraidException.Category.CONFIG, "handshakeTimeout = " + v + " must be > 0");
        }
        return new TlsOptions(context, engines, engine, source, clientAuth, verifyHostname, protocols, v, serverName);
    }

    /**
     * Client: the host name to verify the server's certificate against and to send as SNI, instead of the
     * host connected to (needed over a Unix domain socket, which has no host name).
     *
     * @param v the name, or null for the host connected to
     * @return a copy with it
     */
    public TlsOptions serverName(final String v) {
        return new TlsOptions(context, engines, engine, source, clientAuth, verifyHostname, protocols, handshakeTimeout, v);
    }

    /**
     * {@return whose engines these are: {@link #JDK}, a {@link TlsEngineProvider#name() provider's name} such as
     * {@code openssl}, or {@link #CUSTOM} for {@link #of(EngineFactory, String)}}
     */
    public String engine() {
        return engine;
    }

    /** {@return the SSL context engines are made from, or null when they come from an {@link EngineFactory}} */
    public SSLContext context() {
        return context;
    }

    /** {@return what makes each connection's engine (from {@link #context()} unless given to {@link #of(EngineFactory, String)})} */
    public EngineFactory engineFactory() {
        return engines;
    }

    /** {@return the server's client-certificate policy} */
    public ClientAuth clientAuth() {
        return clientAuth;
    }

    /** {@return whether a client verifies the server's host name} */
    public boolean verifyHostname() {
        return verifyHostname;
    }

    /** {@return the protocols allowed, preferred first} */
    public List<String> protocols() {
        return protocols;
    }

    /** {@return how long a handshake may take} */
    public Duration handshakeTimeout() {
        return handshakeTimeout;
    }

    /** {@return the name a client verifies and sends as SNI, or null for the host connected to} */
    public String serverName() {
        return serverName;
    }

    @Override
    public String toString() {
        return "TLS(" + source + ", " + String.join("/", protocols) + ", client certificates " + clientAuth
                + (verifyHostname ? "" : ", host name not verified") + ")";
    }
}
