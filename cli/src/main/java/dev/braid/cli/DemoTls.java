package dev.braid.cli;

import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code braid demo --tls}: a throwaway CA and a server certificate for localhost, made when the demo starts
 * in a private temporary directory and deleted when it ends. The server presents the certificate; the
 * client trusts the CA and checks the name, as a real deployment would. Used by one thread.
 */
final class DemoTls implements AutoCloseable {
    final Path dir;
    final ThrowawayPki.Identity server;
    final Path ca;
    /** Whose engines both sides use (resolved: never AUTO). */
    final TlsEngine engine;

    private DemoTls(final Path dir, final ThrowawayPki.Identity server, final Path ca, final TlsEngine engine) {
        this.dir = dir;
        this.server = server;
        this.ca = ca;
        this.engine = engine;
    }

    static DemoTls create(final TlsEngine engine) throws IOException {
        final TlsEngine resolved = engine.resolve();
        if (resolved == TlsEngine.OPENSSL && !dev.braid.tls.openssl.OpenSslTls.isAvailable()) {
            throw new IllegalStateException("--tls-engine openssl: BoringSSL does not load here: "
                    + dev.braid.tls.openssl.OpenSslTls.unavailabilityCause());
        }
        final Path dir = Files.createTempDirectory("braid-demo-tls");
        final ThrowawayPki pki = ThrowawayPki.create(dir, "demo");
        final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1", "::1"));
        return new DemoTls(dir, id, pki.caCertificate(), resolved);
    }

    /** The server's side from its files (also in the server's own JVM, with the engine's {@link TlsEngine#option()}). */
    static TlsOptions serverOptions(final Path cert, final Path key, final TlsEngine engine) {
        return engine.fromPem(cert, key, null);
    }

    TlsOptions serverOptions() {
        return serverOptions(server.certificate(), server.key(), engine);
    }

    TlsOptions clientOptions() {
        return engine.fromPem(null, null, ca);
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
