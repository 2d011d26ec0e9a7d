package dev.braid.jmh;

import dev.braid.CallOptions;
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

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * {@link CallBenchmark} over TLS 1.3 (the JDK's provider; a throwaway CA, the client checking the server's
 * name): the same round trip and pipelined calls, so the two benchmarks' figures side by side are TLS's cost
 * (issue 12 §5: round trip p50 at most 1.3 x plaintext on the same backend).
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@State(Scope.Benchmark)
public class TlsCallBenchmark {
    @Param({"nio", "epoll", "loom"})
    String backend;

    private BraidFixture fixture;
    private final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private Pipeline pipeline;

    @Setup(Level.Trial)
    public void setUp() {
        fixture = new BraidFixture(backend, true);
        pipeline = new Pipeline(fixture.connection, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pipeline.drain();
        fixture.close();
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public int roundTrip() {
        return fixture.connection.call(BraidFixture.ECHO, args.clear(), reply.clear(), CallOptions.DEFAULT);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int pipelined() {
        return pipeline.next();
    }
}
