package dev.braid.jmh;

import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The floor of a TLS round trip: the JDK's {@link SSLEngine} alone, one thread, no I/O, doing what a 64-byte
 * call's round trip needs of it: the client seals the call, the server opens it, seals the reply, the client
 * opens it (four records, TLS 1.3, the same throwaway CA and cipher suite as {@link TlsCallBenchmark}; direct
 * buffers, as braid's pool lends). A TLS round trip's p50 minus the plaintext one's, minus this, is what the TLS
 * layer itself costs beyond the JDK's record protection (issue 12 §5).
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
public class TlsRecordFloorBenchmark {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private Path dir;
    private SSLEngine client;
    private SSLEngine server;
    private final ByteBuffer message = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private ByteBuffer toServer;
    private ByteBuffer toClient;
    private ByteBuffer plain;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("braid-jmh-tls-floor");
        final ThrowawayPki pki = ThrowawayPki.create(dir, "floor");
        final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1"));
        client = TlsOptions.fromPem(null, null, pki.caCertificate(), TlsOptions.JDK).context().createSSLEngine("localhost", 1);
        client.setUseClientMode(true);
        client.setEnabledProtocols(new String[]{"TLSv1.3"});
        server = TlsOptions.fromPem(id.certificate(), id.key(), null, TlsOptions.JDK).context().createSSLEngine();
        server.setUseClientMode(false);
        final int packet = client.getSession().getPacketBufferSize();
        toServer = ByteBuffer.allocateDirect(4 * packet);
        toClient = ByteBuffer.allocateDirect(4 * packet);
        plain = ByteBuffer.allocateDirect(2 * client.getSession().getApplicationBufferSize());
        client.beginHandshake();
        server.beginHandshake();
        for (int i = 0; i < 64 && (busy(client) || busy(server) || toServer.position() > 0 || toClient.position() > 0); i++) {
            step(client, toServer, toClient);
            step(server, toClient, toServer);
        }
        if (busy(client) || busy(server) || toServer.position() > 0 || toClient.position() > 0) {
            throw new IllegalStateException("TLS handshake between the two engines did not finish");
        }
    }

    private static boolean busy(final SSLEngine e) {
        return e.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING;
    }

    /** One handshake step of {@code e}: its tasks, a wrap into {@code out}, or an unwrap of what {@code in} holds. */
    private void step(final SSLEngine e, final ByteBuffer out, final ByteBuffer in) throws SSLException {
        final HandshakeStatus hs = e.getHandshakeStatus();
        if (hs == HandshakeStatus.NEED_TASK) {
            Runnable t;
            while ((t = e.getDelegatedTask()) != null) {
                t.run();
            }
        } else if (hs == HandshakeStatus.NEED_WRAP) {
            e.wrap(EMPTY, out);
        }
        in.flip();
        while (in.hasRemaining()) { // records after the handshake too (the server's session tickets)
            final SSLEngineResult r = e.unwrap(in, plain.clear());
            if (r.bytesConsumed() == 0) {
                break;
            }
        }
        in.compact();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** {@return the reply's plaintext length} Four record operations: seal, open, seal, open. */
    @Benchmark
    public int roundTrip() throws SSLException {
        client.wrap(message.clear(), toServer.clear());
        server.unwrap(toServer.flip(), plain.clear());
        server.wrap(message.clear(), toClient.clear());
        return client.unwrap(toClient.flip(), plain.clear()).bytesProduced();
    }
}
