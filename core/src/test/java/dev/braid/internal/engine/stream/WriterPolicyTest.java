package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;
import dev.braid.testing.FakeTransport;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The headline promise, as a deterministic test of the writer's policy with a fake transport: while
 * streams keep the writer saturated, a call queued at any moment is written after at most one stream
 * quantum of stream bytes. Single-threaded: the test is producer, writer and socket, so the outcome does
 * not depend on timing, and it fails if the policy (control, then calls, then one stream quantum per pass)
 * changes.
 */
class WriterPolicyTest {
    private static final Procedure STREAM = Procedure.of(0x504f4c49, 1, 1);
    private static final Procedure CALL = Procedure.of(0x504f4c49, 1, 2);

    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final FakeTransport transport = new FakeTransport();
    private final ReadGate gate = new ReadGate();
    private final StreamScheduler scheduler = new StreamScheduler();
    private final Outbound outbound = new Outbound(scheduler, gate, 1024);
    private final List<StreamImpl> streams = new ArrayList<>();
    private StreamTable table;

    @AfterEach
    void tearDown() {
        for (StreamImpl s : streams) {
            s.abort("test over");
        }
        outbound.close();
        timer.shutdownNow();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    private void open(final int count) {
        gate.attach(transport);
        outbound.attach(transport);
        table = new StreamTable(new BraidConfig(), pool, outbound, scheduler, gate, new StreamTable.Role() {
            @Override
            public void streamEnded(final StreamHandle s) {
            }

            @Override
            public void streamSlotFree(final StreamHandle s) {
            }
        });
        table.start(transport, timer);
        for (int i = 0; i < count; i++) {
            // libvirt mode (no windows): the streams never wait for credit, so they saturate the writer
            streams.add((StreamImpl) table.register(STREAM, 100 + i, false, false, 0, 1 << 24, 1));
        }
    }

    /** Tops every stream's send ring up with maximal packets (the streams always have data to send). */
    private void refill() {
        final ByteBuffer chunk = ByteBuffer.allocate(FrameHeader.MAX_STREAM_PAYLOAD);
        for (StreamImpl s : streams) {
            while (s.tryWrite(chunk.clear()) > 0) {
                // until the ring is full
            }
        }
    }

    @ParameterizedTest(name = "{0} streams")
    @ValueSource(ints = {1, 4, 16})
    void aCallQueuedBehindSaturatingStreamsWaitsForAtMostOneQuantum(final int count) {
        open(count);
        final ByteBuffer[] dst = new ByteBuffer[64];
        // Saturate: several passes of stream data, each socket write taking a partial amount.
        for (int pass = 0; pass < 20; pass++) {
            refill();
            writeSome(dst, 100_000);
        }
        // The call arrives now, with a batch possibly half written.
        final PooledBuffer call = Frames.claim(pool, 64);
        call.byteBuffer().position(FrameHeader.PAYLOAD_OFFSET + 64);
        Frames.commit(call, CALL.program(), CALL.version(), CALL.procedure(), FrameHeader.TYPE_CALL, 7,
                FrameHeader.STATUS_OK);
        final int callLength = call.byteBuffer().remaining();
        assertThat(outbound.enqueue(call, false, false)).isTrue();
        long streamBytesBefore = 0;
        boolean callWritten = false;
        for (int pass = 0; pass < 100 && !callWritten; pass++) {
            refill();
            final int n = outbound.gather(dst);
            long written = 0;
            for (int i = 0; i < n && !callWritten; i++) {
                final ByteBuffer b = dst[i];
                final boolean isCall = b.remaining() == callLength && b.getInt(b.position() + FrameHeader.TYPE_OFFSET)
                        == FrameHeader.TYPE_CALL;
                if (isCall) {
                    callWritten = true;
                } else {
                    streamBytesBefore += b.remaining();
                }
                written += b.remaining();
                b.position(b.limit());
            }
            outbound.written(written);
        }
        assertThat(callWritten).isTrue();
        assertThat(streamBytesBefore).as("stream bytes written after the call was queued, before it")
                .isLessThanOrEqualTo(Outbound.STREAM_QUANTUM);
    }

    /** Control frames (CREDIT, aborts, keepalive) overtake calls, and calls overtake stream data. */
    @Test
    void controlBeforeCallsBeforeStreamData() {
        open(2);
        refill();
        final PooledBuffer call = Frames.empty(pool, CALL.program(), CALL.version(), CALL.procedure(),
                FrameHeader.TYPE_CALL, 9, FrameHeader.STATUS_OK);
        final PooledBuffer ping = Frames.empty(pool, 0x6b656570, 1, 1, FrameHeader.TYPE_MESSAGE, 0,
                FrameHeader.STATUS_OK);
        outbound.enqueue(call, false, false);
        outbound.enqueue(ping, true, false);
        final ByteBuffer[] dst = new ByteBuffer[64];
        final int n = outbound.gather(dst);
        assertThat(n).isGreaterThanOrEqualTo(3);
        assertThat(dst[0].getInt(dst[0].position() + FrameHeader.TYPE_OFFSET)).isEqualTo(FrameHeader.TYPE_MESSAGE);
        assertThat(dst[1].getInt(dst[1].position() + FrameHeader.TYPE_OFFSET)).isEqualTo(FrameHeader.TYPE_CALL);
        long streamBytes = 0;
        for (int i = 2; i < n; i++) {
            assertThat(dst[i].getInt(dst[i].position() + FrameHeader.TYPE_OFFSET)).isEqualTo(FrameHeader.TYPE_STREAM);
            streamBytes += dst[i].remaining();
        }
        assertThat(streamBytes).as("stream bytes in one pass").isLessThanOrEqualTo(Outbound.STREAM_QUANTUM);
        long all = 0;
        for (int i = 0; i < n; i++) {
            all += dst[i].remaining();
            dst[i].position(dst[i].limit());
        }
        outbound.written(all);
    }

    /** Writes at most {@code max} bytes of one gathered batch, as a socket that takes part of it would. */
    private void writeSome(final ByteBuffer[] dst, final long max) {
        final int n = outbound.gather(dst);
        long left = max;
        long written = 0;
        for (int i = 0; i < n && left > 0; i++) {
            final int k = (int) Math.min(left, dst[i].remaining());
            dst[i].position(dst[i].position() + k);
            left -= k;
            written += k;
        }
        outbound.written(written);
    }
}
