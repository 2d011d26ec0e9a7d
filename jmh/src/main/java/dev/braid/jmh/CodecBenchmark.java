package dev.braid.jmh;

import dev.braid.RemoteError;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
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

/**
 * Encode (claim a pooled frame, fill it, commit the header) and decode (bytes to a validated pooled frame,
 * plus the per-type reading the engine does) of one message of each type. Run with {@code -prof gc} for
 * bytes per operation. {@code payload} is the body size for CALL, REPLY, MESSAGE and STREAM; ERROR carries a
 * libvirt remote_error (its message and decoding allocate by nature: strings), HOLE and CREDIT have fixed
 * bodies.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class CodecBenchmark {
    @Param({"CALL", "REPLY", "MESSAGE", "STREAM", "ERROR", "HOLE", "CREDIT"})
    String type;

    @Param({"64", "4096"})
    int payload;

    private BufferPool pool;
    private ByteBuffer body;
    private FrameDecoder decoder;
    private byte[] wire;
    private RemoteError error;
    private Blackhole blackhole;
    private final FrameDecoder.FrameSink sink = this::onFrame;

    @Setup(Level.Trial)
    public void setUp(final Blackhole bh) {
        blackhole = bh;
        pool = new BufferPool();
        body = ByteBuffer.allocateDirect(payload);
        error = RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC, "handler failed: x".repeat(4));
        decoder = new FrameDecoder(pool, FrameHeader.DEFAULT_MAX_MESSAGE, 131_072, 131_072); // full-size from the start: the benchmark puts a whole frame in at once
        final PooledBuffer f = frame();
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

    private PooledBuffer frame() {
        switch (type) {
            case "CALL", "REPLY", "MESSAGE", "STREAM" -> {
                final PooledBuffer f = Frames.claim(pool, payload);
                final ByteBuffer b = f.byteBuffer();
                b.put(b.position(), body, 0, payload).position(b.position() + payload);
                final int t = switch (type) {
                    case "CALL" -> FrameHeader.TYPE_CALL;
                    case "REPLY" -> FrameHeader.TYPE_REPLY;
                    case "MESSAGE" -> FrameHeader.TYPE_MESSAGE;
                    default -> FrameHeader.TYPE_STREAM;
                };
                final int status = t == FrameHeader.TYPE_STREAM ? FrameHeader.STATUS_CONTINUE : FrameHeader.STATUS_OK;
                Frames.commit(f, 0x20008086, 1, 1, t, 7, status);
                return f;
            }
            case "ERROR" -> {
                final PooledBuffer f = Frames.claim(pool, RemoteErrorCodec.encodedSize(error));
                RemoteErrorCodec.encode(error, f.byteBuffer());
                Frames.commit(f, 0x20008086, 1, 1, FrameHeader.TYPE_REPLY, 7, FrameHeader.STATUS_ERROR);
                return f;
            }
            case "HOLE" -> {
                final PooledBuffer f = Frames.claim(pool, 12);
                f.byteBuffer().putLong(1L << 20).putInt(0);
                Frames.commit(f, 0x20008086, 1, 1, FrameHeader.TYPE_STREAM_HOLE, 7, FrameHeader.STATUS_CONTINUE);
                return f;
            }
            case "CREDIT" -> {
                final PooledBuffer f = Frames.claim(pool, Extension.CREDIT_LENGTH);
                f.byteBuffer().putInt(7).putInt(262_144);
                Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_CREDIT, FrameHeader.TYPE_MESSAGE,
                        0, FrameHeader.STATUS_OK);
                return f;
            }
            default -> throw new IllegalArgumentException(type);
        }
    }

    /** Reads what the engine reads from a frame of this type, then releases it. */
    private boolean onFrame(final PooledBuffer f) {
        final ByteBuffer b = f.byteBuffer();
        switch (type) {
            case "ERROR" -> blackhole.consume(RemoteErrorCodec.decode(Frames.payloadView(f)));
            case "HOLE" -> blackhole.consume(b.getLong(FrameHeader.PAYLOAD_OFFSET));
            case "CREDIT" -> blackhole.consume(b.getInt(FrameHeader.PAYLOAD_OFFSET) + b.getInt(FrameHeader.PAYLOAD_OFFSET + 4));
            default -> blackhole.consume(Frames.serial(f) + Frames.proc(f) + Frames.status(f));
        }
        f.release();
        return true;
    }

    @Benchmark
    public int encode() {
        final PooledBuffer f = frame();
        final int n = f.byteBuffer().remaining();
        f.release();
        return n;
    }

    @Benchmark
    public boolean decode() {
        decoder.inboundBuffer().put(wire);
        return decoder.decode(sink);
    }
}
