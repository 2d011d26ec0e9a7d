package dev.braid.testsuite;

import dev.braid.Braid;
import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * 1,000 TLS connections at once (issue 12 §1): every one completes its handshake and a call, and while they
 * are idle the pool lends exactly what design.md §11 says an idle TLS connection holds on each side: the
 * decoder's read buffer and TLS's {@code netIn}, nothing else (no {@code netOut}, no staging, no control
 * buffer). Run on the pairings whose two sides use one backend (three runs, 2,000 handshakes each); the read
 * buffer is the smallest allowed (4 KiB), so the test's direct memory stays near 80 MB.
 */
class TlsConnectionsTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x544c5343, 1, 1);
    static final int CONNECTIONS = 1000;
    /**
     * A hundred handshakes at once on one I/O thread a side, on a loaded 2-CPU machine, can take longer than
     * the default 10 s deadline; this test is about memory, not deadlines (TlsTest has those).
     */
    static final java.time.Duration HANDSHAKES = java.time.Duration.ofSeconds(120);

    /** braid's TLS options from PEM files: the JDK's engines here, another provider's in a subclass. */
    TlsOptions pem(final Path chain, final Path key, final Path cas) {
        return TlsOptions.fromPem(chain, key, cas, TlsOptions.JDK); // OpenSslTlsConnectionsTest: BoringSSL's
    }

    /** This process's resident memory (VmRSS), for the record: it includes engines' native memory. */
    static long rssKib() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aThousandIdleTlsConnectionsHoldOnlyTheirReadBuffers() throws Exception {
        Assumptions.assumeTrue(pairing.client().equals(pairing.server()), "one run per backend is enough");
        final Path dir = Files.createTempDirectory("braid-tls-many");
        try {
            final ThrowawayPki ca = ThrowawayPki.create(dir, "many");
            final ThrowawayPki.Identity id = ca.issue("server", List.of("localhost"), List.of("127.0.0.1"));
            final BraidServer server = server(config(true).readBufferSize(4096).keepaliveInterval(java.time.Duration.ZERO)
                    .tls(pem(id.certificate(), id.key(), null).handshakeTimeout(HANDSHAKES)), s -> s.handle(ECHO,
                    call -> call.reply(call.args())));
            final Braid client = braid(config(false).readBufferSize(4096).keepaliveInterval(java.time.Duration.ZERO)
                    .tls(pem(null, null, ca.caCertificate()).handshakeTimeout(HANDSHAKES)));
            final long rssBefore = rssKib();
            final List<Connection> connections = new ArrayList<>();
            for (int batch = 0; batch < CONNECTIONS; batch += 100) {
                final List<CompletableFuture<Connection>> pending = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    pending.add(client.connectAsync(server.address()));
                }
                for (CompletableFuture<Connection> f : pending) {
                    final Connection c = f.get(150, TimeUnit.SECONDS);
                    closeLater(c::abort);
                    connections.add(c);
                }
            }
            for (Connection c : connections) {
                assertThat(c.call(ECHO, new byte[]{7})).containsExactly(7);
            }
            dev.braid.testing.Await.until("the server has every connection",
                    () -> server.connections().size() == CONNECTIONS);
            // idle: per connection and side, the decoder's read buffer and TLS's netIn; nothing else is lent
            final long expected = 2L * 2 * CONNECTIONS;
            dev.braid.testing.Await.until("only the idle buffers are lent (" + expected + "), now "
                    + pool.outstanding(), () -> pool.outstanding() == expected);
            System.out.printf("%d TLS connections (%s, %s): %d pooled buffers lent, the pool holds %.1f MiB; "
                    + "process resident memory %+d KiB since the contexts were made%n", CONNECTIONS, pairing,
                    getClass().getSimpleName(), pool.outstanding(), pool.allocatedBytes() / 1048576.0,
                    rssKib() - rssBefore);
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
