package dev.braid.jmh;

import dev.braid.BraidStream;
import dev.braid.CallOptions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
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
import org.openjdk.jmh.infra.BenchmarkParams;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * braid's headline: a 64-byte call's round trip on a connection that is idle ({@code idle} group) and on one
 * where four streams move data as fast as they can, two up and two down ({@code loaded} group: one caller
 * thread, two uploading and two downloading threads, each with its own stream on the same connection).
 * Read the call percentiles of {@code loaded:loadedCall} against {@code idle:idleCall}; the streams'
 * aggregate rate is threads x 256 KiB / the average time of their operations.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class FairnessBenchmark {

    @State(Scope.Group)
    public static class Shared {
        @Param({"nio", "epoll", "loom"})
        String backend;

        BraidFixture fixture;

        @Setup(Level.Trial)
        public void setUp(final BenchmarkParams params) {
            fixture = new BraidFixture(backend, BraidFixture.tls(params)); // TlsFairnessBenchmark: TLS
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            fixture.close();
        }
    }

    @State(Scope.Thread)
    public static class Caller {
        final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
        final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);

        int call(final Shared s) {
            return s.fixture.connection.call(BraidFixture.ECHO, args.clear(), reply.clear(), CallOptions.DEFAULT);
        }
    }

    @State(Scope.Thread)
    public static class Uploader {
        BraidStream stream;
        final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);

        @Setup(Level.Trial)
        public void open(final Shared s) {
            stream = s.fixture.open(BraidFixture.SINK);
        }

        @TearDown(Level.Trial)
        public void close() {
            stream.abort("benchmark over");
        }
    }

    @State(Scope.Thread)
    public static class Downloader {
        BraidStream stream;
        final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);

        @Setup(Level.Trial)
        public void open(final Shared s) {
            stream = s.fixture.open(BraidFixture.SOURCE);
        }

        @TearDown(Level.Trial)
        public void close() {
            stream.abort("benchmark over");
        }
    }

    @Benchmark
    @Group("idle")
    @GroupThreads(1)
    public int idleCall(final Shared s, final Caller c) {
        return c.call(s);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(1)
    public int loadedCall(final Shared s, final Caller c) {
        return c.call(s);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public int loadedUpload(final Uploader u) {
        u.stream.write(u.chunk.clear());
        return u.chunk.position();
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public int loadedDownload(final Downloader d) {
        BraidFixture.readFully(d.stream, d.chunk.clear());
        return d.chunk.position();
    }
}
