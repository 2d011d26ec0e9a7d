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
        serverProcess = EchoServerProcess.start("same".equals(server) ? backend : server, jvmArgs);
        braid = Braid.create(new BraidConfig().backend(backend));
        connection = braid.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), serverProcess.port));
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException, InterruptedException {
        try {
            connection.close();
            braid.close();
        } finally {
            serverProcess.close();
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
