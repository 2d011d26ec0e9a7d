package dev.braid.jmh;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.StreamListener;

import org.openjdk.jmh.infra.BenchmarkParams;

import java.nio.ByteBuffer;

/**
 * A braid server and a client connected to it over loopback, as two separate {@link Braid} runtimes (each
 * with its own I/O thread), the way two processes would be. Shared by the call, stream and fairness
 * benchmarks.
 *
 * <p>The server offers:
 * <ul>
 *   <li>{@link #ECHO}: replies with the call's arguments, {@link HandlerMode#NON_BLOCKING} (on the server's
 *       I/O thread, no hand-off): the cheapest a braid server can answer.</li>
 *   <li>{@link #TYPED}: the typed echo of an XDR struct ({@link Sample}), {@link HandlerMode#NON_BLOCKING}.</li>
 *   <li>{@link #SINK}: a stream the server reads and discards until the client finishes or aborts it.</li>
 *   <li>{@link #SOURCE}: a stream the server writes {@link #CHUNK}-byte writes into until the client aborts it.</li>
 * </ul>
 * The stream handlers use braid's non-blocking stream API (readiness callbacks on the server's I/O thread,
 * no thread per stream), so what {@code -prof gc} reports is braid's data path and not virtual threads'
 * parking.
 */
final class BraidFixture implements AutoCloseable {
    static final Procedure ECHO = Procedure.of(0x6A6D6862, 1, 1); // "jmhb"
    static final Procedure SINK = Procedure.of(0x6A6D6862, 1, 2);
    static final Procedure SOURCE = Procedure.of(0x6A6D6862, 1, 3);
    /** A typed echo of an XDR struct: the server bumps {@code value} in the request and returns it. */
    static final ProcedureDescriptor<Sample, Sample> TYPED = ProcedureDescriptor.of(Procedure.of(0x6A6D6862, 1, 4),
            Sample.CODEC, Sample.CODEC);
    static final int PAYLOAD = 64;
    /** TLS fixtures use BoringSSL's engines ({@code -Dbraid.bench.tls=openssl}) instead of the JDK's. */
    static final boolean OPENSSL = "openssl".equals(System.getProperty("braid.bench.tls"));
    static final int CHUNK = 256 * 1024;

    final Braid serverBraid;
    final Braid clientBraid;
    final BraidServer server;
    final Connection connection;

    /** The throwaway certificates of a TLS fixture, or null; deleted on close. */
    private final java.nio.file.Path pkiDir;

    BraidFixture(final String backend) {
        this(backend, Observers.NONE, false);
    }

    /** With {@code observer}'s observer (null for none) on both runtimes, each its own instance. */
    BraidFixture(final String backend, final Observers observer) {
        this(backend, observer, false);
    }

    /** Plaintext or TLS, no observer. */
    BraidFixture(final String backend, final boolean tls) {
        this(backend, Observers.NONE, tls);
    }

    /**
     * @param observer the observer on both runtimes, each its own instance
     * @param tls      true: both sides on TLS 1.3 (a throwaway CA made here; the client checks the server's name)
     */
    BraidFixture(final String backend, final Observers observer, final boolean tls) {
        dev.braid.TlsOptions serverTls = null;
        dev.braid.TlsOptions clientTls = null;
        if (tls) {
            try {
                pkiDir = java.nio.file.Files.createTempDirectory("braid-jmh-tls");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            final dev.braid.tooling.ThrowawayPki pki = dev.braid.tooling.ThrowawayPki.create(pkiDir, "jmh");
            final dev.braid.tooling.ThrowawayPki.Identity id = pki.issue("server", java.util.List.of("localhost"),
                    java.util.List.of("127.0.0.1", "::1"));
            if (OPENSSL) { // -Dbraid.bench.tls=openssl: BoringSSL's engines (braid-tls-openssl) instead of the JDK's
                serverTls = dev.braid.tls.openssl.OpenSslTls.fromPem(id.certificate(), id.key(), null);
                clientTls = dev.braid.tls.openssl.OpenSslTls.fromPem(null, null, pki.caCertificate());
            } else {
                serverTls = dev.braid.TlsOptions.fromPem(id.certificate(), id.key(), null, dev.braid.TlsOptions.JDK);
                clientTls = dev.braid.TlsOptions.fromPem(null, null, pki.caCertificate(), dev.braid.TlsOptions.JDK);
            }
        } else {
            pkiDir = null;
        }
        serverBraid = Braid.create(new BraidConfig().backend(backend).tls(serverTls).observer(observer.create()));
        // The pipelines' reply handlers never block: the direct form keeps the reply path allocation-free and
        // measures braid, not the hand-off to a callback executor (the default since issue 14).
        clientBraid = Braid.create(new BraidConfig().backend(backend).tls(clientTls).observer(observer.create())
                .callbackExecutor(BraidConfig.DIRECT_CALLBACKS));
        server = serverBraid.server()
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(TYPED, (sample, call) -> {
                    sample.value++; // the request object (decoded into the last one: no allocation) is the reply
                    return sample;
                }, HandlerMode.NON_BLOCKING)
                .stream(SINK, (call, stream) -> {
                    call.reply(EMPTY);
                    stream.setListener(new Sink());
                }, HandlerMode.NON_BLOCKING)
                .stream(SOURCE, (call, stream) -> {
                    call.reply(EMPTY);
                    stream.setListener(new Source());
                }, HandlerMode.NON_BLOCKING)
                .bind(0);
        connection = clientBraid.connect(server.address());
    }

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** Reads and discards whatever arrives. */
    private static final class Sink implements StreamListener {
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);

        @Override
        public void onReadable(final BraidStream stream) {
            try {
                while (stream.tryRead(buffer.clear()) > 0) {
                    // discard
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the trial
            }
        }
    }

    /** Writes {@link #CHUNK}-byte chunks for as long as the stream takes them. */
    private static final class Source implements StreamListener {
        private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);

        @Override
        public void onWritable(final BraidStream stream) {
            try {
                while (true) {
                    if (!chunk.hasRemaining()) {
                        chunk.clear();
                    }
                    if (stream.tryWrite(chunk) == 0) {
                        return; // onWritable again when there is room
                    }
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the trial
            }
        }
    }

    /**
     * Whether a benchmark runs over TLS, for state classes shared by a plaintext benchmark and its TLS subclass
     * (JMH gives a state the running benchmark's name, not its class): the {@code GrpcTls*} and {@code Tls*}
     * benchmarks are the TLS ones.
     *
     * @param params the running benchmark's parameters
     * @return true for a TLS benchmark
     */
    static boolean tls(final BenchmarkParams params) {
        final String name = params.getBenchmark();
        final String simple = name.substring(0, name.lastIndexOf('.'));
        return simple.substring(simple.lastIndexOf('.') + 1).contains("Tls");
    }

    BraidStream open(final Procedure p) {
        return connection.openStream(p, new byte[0]);
    }

    /** Reads exactly {@code dst.remaining()} bytes. */
    static void readFully(final BraidStream s, final ByteBuffer dst) {
        while (dst.hasRemaining()) {
            if (s.read(dst) < 0) {
                throw new IllegalStateException("stream ended early");
            }
        }
    }

    @Override
    public void close() {
        try {
            connection.close();
            server.close();
        } finally {
            clientBraid.close();
            serverBraid.close();
        }
        check(clientBraid);
        check(serverBraid);
        if (pkiDir != null) {
            try (var files = java.nio.file.Files.walk(pkiDir)) {
                for (java.nio.file.Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.deleteIfExists(p);
                }
            } catch (java.io.IOException e) {
                // a temporary directory: best effort
            }
        }
    }

    private static void check(final Braid b) {
        final long out = b.bufferPool().outstanding();
        if (out != 0) {
            throw new IllegalStateException("benchmark leaked " + out + " pooled buffers: " + b.bufferPool());
        }
    }
}
