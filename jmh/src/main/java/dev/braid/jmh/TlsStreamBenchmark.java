package dev.braid.jmh;

import dev.braid.BraidStream;
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
 * {@link StreamBenchmark} over TLS 1.3: one stream, 256 KiB per operation, each way. Compare with
 * {@link RawTlsStreamBenchmark} (the JDK's {@code SSLSocket} moving the same bytes: the ceiling the JDK's
 * AES-GCM sets; issue 12 §5 asks for at least 0.9 x it).
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
public class TlsStreamBenchmark {
    @Param({"nio", "epoll", "loom"})
    String backend;

    private BraidFixture fixture;
    private BraidStream up;
    private BraidStream down;
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);

    @Setup(Level.Trial)
    public void setUp() {
        fixture = new BraidFixture(backend, true);
        up = fixture.open(BraidFixture.SINK);
        down = fixture.open(BraidFixture.SOURCE);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        up.abort("benchmark over");
        down.abort("benchmark over");
        fixture.close();
    }

    @Benchmark
    public int upload() {
        up.write(chunk.clear());
        return chunk.position();
    }

    @Benchmark
    public int download() {
        BraidFixture.readFully(down, chunk.clear());
        return chunk.position();
    }
}
