package dev.braid.internal.engine.stream;

import dev.braid.buffer.BufferPool;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The open packet's hand-over (whole packets) between a writing thread and the connection's writer, raced
 * for real: one thread writes sizes that fill the open packet and leave a new remainder (the case that broke:
 * the writer filled packet P and queued the next remainder Q open while the scheduler, having seen P named
 * open, sealed "the open packet" by a state word that now meant Q, writing P's header twice and sending Q
 * without one: {@code IndexOutOfBoundsException} in {@code Frames.length}, INTERNAL_ERROR on a connection).
 * The other thread runs the scheduler and checks every packet's header and bytes. Bounded in bytes and time;
 * on the old hand-over it failed within the first few megabytes on a loaded 2-CPU machine.
 */
class OpenPacketRaceTest {
    private static final long BYTES = 24L << 20;
    private static final long MAX_MILLIS = 20_000;

    @Test
    void packetsStayWholeAndInOrderWhileTheWriterFillsTheOpenPacketTheSchedulerSeals() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(StreamSender.CARRY_REMAINDER, "-Dbraid.carryRemainder=false");
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final OpenPacketHarness h = new OpenPacketHarness(pool);
        final AtomicLong written = new AtomicLong(-1);
        final AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        final long deadline = System.nanoTime() + MAX_MILLIS * 1_000_000;
        final Thread writer = new Thread(() -> {
            final SplittableRandom rnd = new SplittableRandom(13);
            long total = 0;
            try {
                while (total < BYTES && System.nanoTime() < deadline) {
                    // mostly writes that fill the open packet and leave a remainder, some that just append
                    final int n = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(OpenPacketHarness.MAX_PACKET / 2)
                            : OpenPacketHarness.MAX_PACKET / 2 + rnd.nextInt(2 * OpenPacketHarness.MAX_PACKET);
                    h.write(n);
                    total += n;
                }
            } catch (Throwable t) {
                writerFailed.set(t);
            } finally {
                written.set(total);
            }
        }, "open-packet-writer");
        writer.start();
        try {
            while (written.get() < 0 && h.problems() == 0) {
                h.pumpOnce();
            }
            if (h.problems() == 0) {
                h.drain(written.get());
            }
        } finally {
            h.close(); // a writer parked on a full ring fails and ends
            writer.join();
        }
        assertThat(h.problems()).as("packets malformed or out of order; the first: %s", h.firstProblem())
                .isZero();
        assertThat(writerFailed.get()).isNull();
        assertThat(h.received()).isEqualTo(written.get());
        LeakChecks.assertNoOutstandingBuffers(pool);
    }
}
