package dev.braid.jmh;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.CallOptions;
import dev.braid.Connection;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link CallBenchmark#roundTrip()} with the client and the server in separate JVMs, as two real processes
 * would be: the benchmark's fork is the client; its setup starts an {@link EchoServerProcess} (a non-blocking
 * echo handler) and connects to it over loopback. One 64-byte call in flight, the blocking allocation-free
 * {@code call(procedure, args, replyInto, options)}; SampleTime gives the percentiles.
 *
 * <p>{@code backend} is the client's; {@code server} the server process's ({@code same}: the client's);
 * {@code -jvmArgsAppend -Dbraid.bench.serverJvmArgs="-Dx=y ..."} passes options to the server's JVM. The
 * latency path of a quiet connection is what this shows: the caller writing its own call (or handing it to an
 * I/O thread), the server's I/O thread answering inline, the client's I/O thread waking the caller.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@State(Scope.Benchmark)
public class TwoProcessCallBenchmark {
    @Param({"nio", "epoll", "loom"})
    String backend;

    @Param({"same"})
    String server;

    private EchoServerProcess.Handle serverProcess;
    private java.nio.file.Path pkiDir;
    private dev.braid.tooling.ThrowawayPki.Identity serverId;

    /** Whether both processes run TLS ({@link TlsTwoProcessCallBenchmark}). */
    boolean tls() {
        return false;
    }

    /** A throwaway CA and the server's certificate; returns the client's options (trusting the CA). */
    private dev.braid.TlsOptions makeCertificates() throws IOException {
        pkiDir = java.nio.file.Files.createTempDirectory("braid-jmh-2p-tls");
        final dev.braid.tooling.ThrowawayPki pki = dev.braid.tooling.ThrowawayPki.create(pkiDir, "jmh");
        serverId = pki.issue("server", List.of("localhost"), List.of("127.0.0.1", "::1"));
        return BraidFixture.OPENSSL ? dev.braid.tls.openssl.OpenSslTls.fromPem(null, null, pki.caCertificate())
                : dev.braid.TlsOptions.fromPem(null, null, pki.caCertificate(), dev.braid.TlsOptions.JDK);
    }
    private Braid braid;
    private Connection connection;
    private final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);

    @Setup(Level.Trial)
    public void setUp() throws IOException, InterruptedException {
        final List<String> jvmArgs = new ArrayList<>(List.of("-Xmx256m"));
        final String extra = System.getProperty("braid.bench.serverJvmArgs", "").trim();
        if (!extra.isEmpty()) {
            jvmArgs.addAll(List.of(extra.split("\\s+")));
        }
        final dev.braid.TlsOptions clientTls = tls() ? makeCertificates() : null;
        serverProcess = EchoServerProcess.start("same".equals(server) ? backend : server, jvmArgs,
                clientTls == null ? List.of() : List.of(serverId.certificate().toString(), serverId.key().toString()));
        braid = Braid.create(new BraidConfig().backend(backend).tls(clientTls));
        connection = braid.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), serverProcess.port));
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException, InterruptedException {
        try {
            connection.close();
            braid.close();
        } finally {
            serverProcess.close();
            if (pkiDir != null) {
                try (var files = java.nio.file.Files.walk(pkiDir)) {
                    for (java.nio.file.Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        java.nio.file.Files.deleteIfExists(p);
                    }
                }
            }
        }
        final long out = braid.bufferPool().outstanding();
        if (out != 0) {
            throw new IllegalStateException("benchmark leaked " + out + " pooled buffers: " + braid.bufferPool());
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public int roundTrip() {
        return connection.call(BraidFixture.ECHO, args.clear(), reply.clear(), CallOptions.DEFAULT);
    }
}
