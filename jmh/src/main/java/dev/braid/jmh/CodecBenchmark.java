package dev.braid.jmh;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;
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
import org.openjdk.jmh.infra.Blackhole;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/** Encode (claim, fill, commit) and decode of one frame; run with {@code -prof gc} for bytes per operation. */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class CodecBenchmark {
    @Param({"64", "4096"})
    int payload;

    private BufferPool pool;
    private ByteBuffer args;
    private FrameDecoder decoder;
    private byte[] wire;
    private final FrameDecoder.FrameSink sink = f -> {
        f.release();
        return true;
    };

    @Setup(Level.Trial)
    public void setUp() {
        pool = new BufferPool();
        args = ByteBuffer.allocateDirect(payload);
        decoder = new FrameDecoder(pool, FrameHeader.DEFAULT_MAX_MESSAGE, 131_072);
        final PooledBuffer f = Frames.claim(pool, payload);
        f.byteBuffer().put(args.duplicate());
        Frames.commit(f, 0x20008086, 1, 1, FrameHeader.TYPE_CALL, 1, FrameHeader.STATUS_OK);
        wire = new byte[f.byteBuffer().remaining()];
        f.byteBuffer().get(wire);
        f.release();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        decoder.close();
        if (pool.outstanding() != 0) {
            throw new IllegalStateException("leak: " + pool);
        }
    }

    @Benchmark
    public void encodeCall(final Blackhole bh) {
        final PooledBuffer f = Frames.claim(pool, payload);
        f.byteBuffer().put(args.duplicate());
        Frames.commit(f, 0x20008086, 1, 1, FrameHeader.TYPE_CALL, 1, FrameHeader.STATUS_OK);
        bh.consume(f.byteBuffer().remaining());
        f.release();
    }

    @Benchmark
    public boolean decodeCall() {
        decoder.inboundBuffer().put(wire);
        return decoder.decode(sink);
    }
}
