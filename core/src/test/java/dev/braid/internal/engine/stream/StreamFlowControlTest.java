package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link StreamFlowControl} alone: costs, windows, credit batching, the send budget, and thread safety. */
class StreamFlowControlTest {

    @Test
    void aPacketCostsItsFrameLengthButAtLeast512() {
        assertThat(StreamFlowControl.cost(28 + 1, 1)).isEqualTo(512);
        assertThat(StreamFlowControl.cost(28 + 4096, 4096)).isEqualTo(4124);
        assertThat(StreamFlowControl.cost(28, 0)).as("EOF costs nothing").isZero();
    }

    @Test
    void theReceiverRefusesWhatExceedsItsWindow() {
        final StreamFlowControl f = new StreamFlowControl(true, 1 << 20, 4096, new SendBudget(1 << 20));
        assertThat(f.admit(2048)).isZero();
        assertThat(f.admit(2048)).isEqualTo(2048);
        assertThat(f.admit(512)).as("beyond the window").isEqualTo(-1);
        assertThat(f.queued()).isEqualTo(4096);
    }

    /**
     * Auto-tuning shrank the peer's window below a packet already queued (or sized before the peer's packets
     * got smaller): with nothing in flight it goes anyway, else it would wait for credit that never comes
     * (a 16 MiB upload beside blocking calls hung in CallPathTest before this).
     */
    @Test
    void aPacketLargerThanAShrunkWindowGoesWhenNothingIsInFlight() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final StreamFlowControl f = new StreamFlowControl(true, 4 * full, 4 * full, new SendBudget(4 * full));
        f.peerWindowChanged(2 * 32_768);
        assertThat(f.mustWait(full)).as("nothing in flight").isFalse();
        f.took(full);
        assertThat(f.mustWait(32_768)).as("in flight beyond the window: wait for credit").isTrue();
        f.creditReturned(full);
        assertThat(f.sendCredit()).isEqualTo(2 * 32_768);
        assertThat(f.mustWait(32_768)).isFalse();
    }

    @Test
    void creditIsBatchedByAQuarterWindowAndFlushedWhenTheQueueEmpties() {
        final StreamFlowControl f = new StreamFlowControl(true, 1 << 20, 64 << 10, new SendBudget(1 << 20));
        for (int i = 0; i < 8; i++) {
            f.admit(4096);
        }
        assertThat(f.consumed(4096, true)).as("below a quarter window: held").isZero();
        assertThat(f.consumed(4096, true)).isZero();
        assertThat(f.consumed(4096, true)).isZero();
        assertThat(f.consumed(4096, true)).as("a quarter window (16 KiB): returned").isEqualTo(16384);
        assertThat(f.consumed(4096, true)).isZero();
        assertThat(f.consumed(4096, true)).isZero();
        assertThat(f.consumed(4096, true)).isZero();
        assertThat(f.consumed(4096, true)).as("the queue is empty: everything held goes back").isEqualTo(12288 + 4096);
        assertThat(f.heldCredit()).isZero();
    }

    @Test
    void aStreamWaitsForCreditAndForItsShareOfTheBudget() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final SendBudget budget = new SendBudget(4 * full);
        final StreamFlowControl a = new StreamFlowControl(true, 16 * full, 16 * full, budget);
        final StreamFlowControl b = new StreamFlowControl(true, 16 * full, 16 * full, budget);
        assertThat(a.mustWait(full)).as("nothing in flight: one packet may always go").isFalse();
        a.took(3 * full);
        assertThat(budget.sharing()).isEqualTo(1);
        assertThat(a.mustWait(full)).as("alone, its fourth packet fits the budget of four").isFalse();
        a.took(full);
        assertThat(a.mustWait(full)).as("alone, its window bounds it, not the budget").isFalse();
        a.took(full);
        assertThat(b.mustWait(full)).as("nothing in flight: b's first packet may go all the same").isFalse();
        b.took(full);
        assertThat(budget.sharing()).isEqualTo(2);
        assertThat(budget.inFlight()).isEqualTo(6 * full);
        assertThat(a.mustWait(512)).as("no longer alone: a is past its share and the total").isTrue();
        assertThat(b.mustWait(512)).as("two sharing, the total passed: b waits").isTrue();
        assertThat(a.creditReturned(4 * full)).isFalse();
        assertThat(budget.inFlight()).isEqualTo(2 * full);
        assertThat(b.mustWait(full)).as("two sharing: two packets each, and the total has room").isFalse();
        assertThat(a.mustWait(full)).isFalse();
        b.took(full);
        assertThat(b.mustWait(512)).as("b has its share").isTrue();
        assertThat(b.parkForCredit(512)).isTrue();
        assertThat(b.creditReturned(2 * full)).as("the credit re-offers the parked stream once").isTrue();
        assertThat(b.creditReturned(0)).isFalse();
        assertThat(budget.sharing()).as("b has nothing in flight any more").isEqualTo(1);
        a.ended();
        assertThat(budget.sharing()).isZero();
        assertThat(budget.inFlight()).as("an ended stream's bytes in flight leave the total").isZero();
    }

    /**
     * Issue 13: four streams sharing a 1 MiB budget each had 256 KiB, below one maximal packet (262,148), so
     * each kept one packet in flight and waited a round trip for the next. The share never drops below one
     * whole packet.
     */
    @Test
    void aStreamsShareOfTheBudgetIsNeverBelowOneFullPacket() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final SendBudget budget = new SendBudget(1 << 20);
        final List<StreamFlowControl> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final StreamFlowControl f = new StreamFlowControl(true, 1 << 22, 1 << 22, budget);
            f.took(full - 4096);
            streams.add(f);
        }
        assertThat(budget.sharing()).isEqualTo(4);
        assertThat(budget.share()).isEqualTo(full);
        assertThat(streams.get(0).mustWait(4096)).as("a whole packet's share: the rest of one packet may go").isFalse();
        assertThat(streams.get(0).mustWait(4097)).isTrue();
        for (StreamFlowControl f : streams) {
            f.ended();
        }
    }

    /**
     * Shares are whole packets: with a budget of 17 packets and four streams, each may have five in flight
     * (not four: 16 in all would leave a packet of the budget unused), and all together 17.
     */
    @Test
    void sharesAreRoundedUpToWholePacketsWithinTheBudgetsTotal() {
        final long full = StreamFlowControl.FULL_PACKET_COST;
        final SendBudget budget = new SendBudget(17 * full);
        final List<StreamFlowControl> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final StreamFlowControl f = new StreamFlowControl(true, 32 * full, 32 * full, budget);
            f.took(4 * full);
            streams.add(f);
        }
        assertThat(streams.get(0).mustWait(full)).as("a fifth packet: within 5 and the total 17").isFalse();
        streams.get(0).took(full);
        assertThat(streams.get(1).mustWait(full)).as("17 in flight: the total is used up").isTrue();
        assertThat(streams.get(0).mustWait(512)).as("its share of five is used up").isTrue();
        for (StreamFlowControl f : streams) {
            f.ended();
        }
        assertThat(budget.inFlight()).isZero();
    }

    @Test
    void withoutFlowControlNothingEverWaits() {
        final StreamFlowControl f = new StreamFlowControl(false, 4096, 4096, new SendBudget(4096));
        f.took(1 << 30);
        assertThat(f.mustWait(1 << 30)).isFalse();
        assertThat(f.admit(1 << 20)).isZero();
        assertThat(f.consumed(1 << 20, true)).as("no CREDIT in libvirt mode").isZero();
    }

    /** Packets consumed on many threads: every byte of credit comes back exactly once. */
    @Test
    void creditConsumedOnManyThreadsIsReturnedExactlyOnce() throws Exception {
        final int window = 64 << 10;
        final int packets = 200_000;
        final StreamFlowControl f = new StreamFlowControl(true, 1 << 20, window, new SendBudget(1 << 20));
        final AtomicLong returned = new AtomicLong();
        final ExecutorService pool = Executors.newFixedThreadPool(4);
        final CountDownLatch go = new CountDownLatch(1);
        final List<Future<?>> done = new ArrayList<>();
        final java.util.concurrent.BlockingQueue<Long> consumed = new java.util.concurrent.LinkedBlockingQueue<>();
        try {
            for (int t = 0; t < 4; t++) {
                done.add(pool.submit(() -> {
                    go.await();
                    while (true) {
                        final long c = consumed.take();
                        if (c < 0) {
                            return null;
                        }
                        returned.addAndGet(f.consumed(c, true));
                    }
                }));
            }
            go.countDown();
            long admitted = 0;
            long credit = window; // what the sender may still send
            for (int i = 0; i < packets; i++) {
                while (credit < 4124) {
                    credit = window - (admitted - returned.get()); // sender's view: window minus unreturned
                    Thread.onSpinWait();
                }
                assertThat(f.admit(4124)).as("a sender within its credit is never refused").isNotNegative();
                admitted += 4124;
                credit -= 4124;
                consumed.put(4124L);
            }
            for (int t = 0; t < 4; t++) {
                consumed.put(-1L);
            }
            for (Future<?> d : done) {
                d.get(60, TimeUnit.SECONDS);
            }
            assertThat(returned.get() + f.heldCredit()).isEqualTo(admitted);
            assertThat(f.queued()).isZero();
        } finally {
            pool.shutdownNow();
        }
    }
}
