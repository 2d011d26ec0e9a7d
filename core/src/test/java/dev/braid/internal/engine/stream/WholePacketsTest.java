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
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whole packets (issue 13): a write larger than the largest packet sends full packets and leaves its
 * remainder open for the next write, instead of a runt packet per write; the open packet goes as it is when
 * the scheduler reaches it (nothing is held back once everything before it has gone), and is sealed before
 * anything else is queued behind it.
 */
class WholePacketsTest {
    private static final Procedure P = Procedure.of(0x57484f4c, 1, 1);
    private static final int MAX = FrameHeader.MAX_STREAM_PAYLOAD;
    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
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
    private final PooledBuffer[] batch = new PooledBuffer[64];

    @AfterEach
    void tearDown() {
        outbound.close();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @org.junit.jupiter.api.BeforeEach
    void carryOn() {
        org.junit.jupiter.api.Assumptions.assumeTrue(StreamSender.CARRY_REMAINDER,
                "the remainder carry was turned off (-Dbraid.carryRemainder=false)");
    }

    /** Four writes of 256 KiB: four full packets and one of 96 bytes, not four full packets and four of 24. */
    @Test
    void powerOfTwoWritesLeaveNoRuntPackets() {
        final StreamImpl s = (StreamImpl) table.register(P, 1, false, true, 16L << 20, 1 << 24, 1);
        final byte[] sent = pattern(4 * 262_144);
        for (int i = 0; i < 4; i++) {
            s.write(ByteBuffer.wrap(sent, i * 262_144, 262_144));
        }
        final ByteBuffer received = ByteBuffer.allocate(sent.length);
        final List<Integer> sizes = pumpAll(received, true);
        assertThat(sizes).containsExactly(MAX, MAX, MAX, MAX, 4 * 262_144 - 4 * MAX);
        assertThat(received.array()).isEqualTo(sent);
        s.abort("over");
    }

    /** The remainder is not held back: with nothing written after it, it goes once the full packet has. */
    @Test
    void theRemainderGoesWhenNothingFollowsIt() {
        final StreamImpl s = (StreamImpl) table.register(P, 2, false, true, 16L << 20, 1 << 24, 1);
        final byte[] sent = pattern(262_144);
        s.write(ByteBuffer.wrap(sent));
        final ByteBuffer received = ByteBuffer.allocate(sent.length);
        assertThat(pumpAll(received, true)).containsExactly(MAX, 24);
        assertThat(received.array()).isEqualTo(sent);
        s.write(ByteBuffer.wrap(sent, 0, 100));
        assertThat(pumpAll(ByteBuffer.allocate(100), true)).as("sealed and sent: the next write starts a new packet")
                .containsExactly(100);
        s.abort("over");
    }

    /**
     * While the stream waits for credit its open packet keeps growing; the end of data is queued behind it
     * only after sealing it, so nothing is appended after the EOF and the order holds.
     */
    @Test
    void theOpenPacketGrowsWhileTheStreamWaitsForCreditAndIsSealedBeforeTheEnd() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final StreamImpl s = (StreamImpl) table.register(P, 3, false, true, full, 1 << 24, 1);
        final byte[] sent = pattern(3 * 262_144);
        s.write(ByteBuffer.wrap(sent, 0, 262_144));
        final ByteBuffer received = ByteBuffer.allocate(sent.length);
        assertThat(pumpAll(received)).as("a window of one packet: the full one goes, the rest waits")
                .containsExactly(MAX);
        s.write(ByteBuffer.wrap(sent, 262_144, 262_144));
        s.write(ByteBuffer.wrap(sent, 2 * 262_144, 262_144));
        s.closeWrite();
        final List<Integer> sizes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            table.onCredit(ByteBuffer.allocate(8).putInt(0, 3).putInt(4, (int) full));
            sizes.addAll(pumpAll(received));
        }
        assertThat(sizes).as("two more full packets, then the last 72 bytes, then the EOF")
                .containsExactly(MAX, MAX, 3 * 262_144 - 3 * MAX, 0);
        assertThat(received.array()).isEqualTo(sent);
        s.abort("over");
    }

    /** A write that fits in the open packet is appended to it; a zero-copy write after it seals it. */
    @Test
    void smallWritesFillTheOpenPacketAndAZeroCopyWriteSealsIt() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final StreamImpl s = (StreamImpl) table.register(P, 4, false, true, full, 1 << 24, 1);
        final byte[] sent = pattern(262_144 + 1000 + 10);
        s.write(ByteBuffer.wrap(sent, 0, 262_144));
        final ByteBuffer received = ByteBuffer.allocate(sent.length);
        assertThat(pumpAll(received)).containsExactly(MAX);
        s.write(ByteBuffer.wrap(sent, 262_144, 1000));
        s.write(10, dst -> dst.put(sent, 262_144 + 1000, 10));
        table.onCredit(ByteBuffer.allocate(8).putInt(0, 4).putInt(4, (int) full));
        assertThat(pumpAll(received)).containsExactly(24 + 1000, 10);
        assertThat(received.array()).isEqualTo(sent);
        s.abort("over");
    }

    /** An abort releases the open packet with the rest (the pool check in tearDown). */
    @Test
    void anAbortReleasesTheOpenPacket() {
        final StreamImpl s = (StreamImpl) table.register(P, 5, false, true, StreamFlowControl.FULL_PACKET_COST,
                1 << 24, 1);
        s.write(ByteBuffer.wrap(pattern(262_144)));
        s.write(ByteBuffer.wrap(pattern(262_144)));
        s.abort("over");
        assertThat(pumpAll(ByteBuffer.allocate(1 << 20))).isEmpty();
    }

    /** Pumps until nothing more comes; copies payloads into {@code into}; returns the payload sizes. */
    private List<Integer> pumpAll(final ByteBuffer into) {
        return pumpAll(into, false);
    }

    /** As above; {@code credit}: the peer returns each packet's credit as soon as it was sent. */
    private List<Integer> pumpAll(final ByteBuffer into, final boolean credit) {
        final List<Integer> sizes = new ArrayList<>();
        int n;
        while ((n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM)) > 0) {
            for (int i = 0; i < n; i++) {
                final ByteBuffer b = batch[i].byteBuffer();
                if (Frames.type(batch[i]) == FrameHeader.TYPE_STREAM) {
                    sizes.add(Frames.length(batch[i]) - FrameHeader.HEADER_LENGTH);
                    if (into.hasRemaining()) {
                        into.put(b.slice(FrameHeader.HEADER_LENGTH, b.remaining() - FrameHeader.HEADER_LENGTH));
                    }
                    if (credit) {
                        final int len = Frames.length(batch[i]);
                        table.onCredit(ByteBuffer.allocate(8).putInt(0, Frames.serial(batch[i]))
                                .putInt(4, (int) StreamFlowControl.cost(len, len - FrameHeader.HEADER_LENGTH)));
                    }
                }
                batch[i].release();
                batch[i] = null;
            }
        }
        return sizes;
    }

    private static byte[] pattern(final int n) {
        final byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + (i >>> 8));
        }
        return b;
    }
}
