package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link StreamScheduler} alone: deficit round-robin gives streams equal bytes whatever their packet sizes,
 * one pump adds at most its budget, and a stream without credit is parked until credit returns.
 */
class StreamSchedulerTest {
    private static final Procedure P = Procedure.of(0x53434844, 1, 1);
    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final StreamScheduler scheduler = new StreamScheduler();
    private final ReadGate gate = new ReadGate();
    private final Outbound outbound = new Outbound(scheduler, gate, 1024);
    private final StreamTable table = new StreamTable(new BraidConfig(), pool, outbound, scheduler, gate,
            new StreamTable.Role() {
                @Override
                public void streamEnded(final StreamHandle s) {
                }

                @Override
                public void streamSlotFree(final StreamHandle s) {
                }
            });

    @AfterEach
    void tearDown() {
        outbound.close();
        timer.shutdownNow();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @Test
    void streamsWithSmallAndLargePacketsGetEqualBytes() {
        final StreamImpl small = (StreamImpl) table.register(P, 1, false, false, 0, 1 << 24, 1);
        final StreamImpl large = (StreamImpl) table.register(P, 2, false, false, 0, 1 << 24, 1);
        final long[] bytes = new long[3];
        final PooledBuffer[] batch = new PooledBuffer[64];
        for (int round = 0; round < 200; round++) {
            fill(small, 4096);
            fill(large, 65536);
            final int n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
            long pumped = 0;
            for (int i = 0; i < n; i++) {
                pumped += batch[i].byteBuffer().remaining();
                bytes[Frames.serial(batch[i])] += batch[i].byteBuffer().remaining();
                batch[i].release();
                batch[i] = null;
            }
            assertThat(pumped).as("one pump adds at most about its budget plus one packet")
                    .isLessThanOrEqualTo(Outbound.STREAM_QUANTUM + 65536 + FrameHeader.HEADER_LENGTH);
        }
        final double ratio = (double) bytes[1] / bytes[2];
        assertThat(ratio).as("bytes of the 4 KiB-packet stream / the 64 KiB-packet stream").isBetween(0.9, 1.1);
        small.abort("over");
        large.abort("over");
    }

    @Test
    void aStreamWithoutCreditWaitsAndResumesWhenCreditReturns() {
        // flow control on, the peer grants 8 KiB: one 4 KiB packet (cost 4124) fits, the second must wait
        final StreamImpl s = (StreamImpl) table.register(P, 5, false, true, 8192, 1 << 24, 1);
        fill(s, 4096);
        final PooledBuffer[] batch = new PooledBuffer[64];
        int n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
        assertThat(n).isEqualTo(1);
        batch[0].release();
        n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
        assertThat(n).as("4124 + 4124 > 8192: parked for credit").isZero();
        final ByteBuffer credit = ByteBuffer.allocate(8).putInt(0, 5).putInt(4, 4124);
        table.onCredit(credit);
        n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
        assertThat(n).as("the CREDIT re-offered it").isEqualTo(1);
        batch[0].release();
        s.abort("over");
    }

    private static void fill(final StreamImpl s, final int packet) {
        final ByteBuffer b = ByteBuffer.allocate(packet);
        while (s.tryWrite(b.clear()) > 0) {
            // until the ring is full
        }
    }
}
