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
    /** Whose engines both sides use (the word, passed on to the server's JVM). */
    final TlsEngine engine;
    /** The client's side, made once (trusting the CA, checking the name). */
    final TlsOptions client;

    private DemoTls(final Path dir, final ThrowawayPki.Identity server, final Path ca, final TlsEngine engine) {
        this.dir = dir;
        this.server = server;
        this.ca = ca;
        this.engine = engine;
        try {
            this.client = engine.fromPem(null, null, ca); // refused here where the engine asked for does not load
        } catch (RuntimeException e) {
            try {
                close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    static DemoTls create(final TlsEngine engine) throws IOException {
        final Path dir = Files.createTempDirectory("braid-demo-tls");
        final ThrowawayPki pki = ThrowawayPki.create(dir, "demo");
        final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1", "::1"));
        return new DemoTls(dir, id, pki.caCertificate(), engine);
    }

    /** The server's side from its files (also in the server's own JVM, with the engine's {@link TlsEngine#option()}). */
    static TlsOptions serverOptions(final Path cert, final Path key, final TlsEngine engine) {
        return engine.fromPem(cert, key, null);
    }

    TlsOptions serverOptions() {
        return serverOptions(server.certificate(), server.key(), engine);
    }

    /** "BoringSSL" or "JDK": whose engines {@link #engine} came to here. */
    String label() {
        return TlsEngine.label(client);
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
