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
 * Small calls on one braid connection: {@link #roundTrip()} with one call in flight (latency),
 * {@link #pipelined()} with 64 in flight (one operation = one completed call). 64-byte arguments echoed back
 * by a non-blocking server handler. Both use braid's allocation-free call forms: the blocking
 * {@code call(procedure, args, replyInto, options)} and {@code callAsync(..., ReplyHandler)}. Compare with {@code RawCallBenchmark} and {@code GrpcCallBenchmark}.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@State(Scope.Benchmark)
public class CallBenchmark {
    @Param({"nio", "epoll", "loom"})
    String backend;

    private BraidFixture fixture;
    private final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private Pipeline pipeline;

    @Setup(Level.Trial)
    public void setUp() {
        fixture = new BraidFixture(backend);
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
