package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link WindowTuner} against a simulated link (no clock, no threads): each round trip the peer sends
 * what the window allows up to the link's bandwidth-delay product; what exceeds it queues and lengthens the
 * round trip. The window must find the product in whole packets, not stay above it, follow a shorter link,
 * and start again after an idle period.
 */
class WindowTunerTest {
    private static final long FULL = StreamFlowControl.FULL_PACKET_COST;
    private static final long INITIAL = 4 * FULL;
    private static final long MAX = 64 * FULL;

    private final List<Long> pings = new ArrayList<>();
    private final List<Long> windows = new ArrayList<>();
    private final ReceiveWindow window = new ReceiveWindow(INITIAL);
    private final WindowTuner tuner = new WindowTuner(INITIAL, MAX, window, new WindowTuner.Signals() {
        @Override
        public void sendPing(final long token) {
            pings.add(token);
        }

        @Override
        public void sendWindow(final long w) {
            windows.add(w);
        }
    });
    private long now = 1_000_000_000L;
    /** What the receiving application consumed so far (it reads as fast as packets arrive here). */
    private long consumed;
    /**
     * Bytes in flight that wait in no queue besides the product (the packet the receiver holds until it is
     * credited, the one being serialized): 0, the worst case, unless a test says otherwise.
     */
    private long free;
    /** The largest window any round of {@link #run} used. */
    private long largest;

    /** Runs {@code rounds} round trips of a link of {@code rate} bytes/s and round trip {@code rtt} ns. */
    private void run(final int rounds, final double rate, final long rtt) {
        final double bdp = rate * rtt / 1e9;
        for (int i = 0; i < rounds; i++) {
            final long w = window.current();
            largest = Math.max(largest, w);
            final long queued = (long) Math.max(0, w - bdp - free);
            final long measured = rtt + (long) (queued / rate * 1e9);
            tuner.onData(consumed += 1, now); // the first bytes of the round: a PING goes if none is out
            final int ping = pings.size() - 1;
            now += measured / 2;
            tuner.onData(consumed += Math.min(w, (long) (rate * measured / 1e9)), now); // consumed meanwhile
            now += measured - measured / 2;
            tuner.onPong(pings.get(ping), consumed, now);
        }
    }

    @Test
    void aLongLinkIsFoundInAFewRoundTripsAndTheWindowStaysNearItsProduct() {
        final double rate = 125e6;
        final long rtt = 50_000_000L; // bandwidth-delay product 6.25 MB: 23.8 packets
        run(40, rate, rtt);
        final long w = window.current();
        assertThat(w % FULL).as("whole packets").isZero();
        assertThat(w).as("at least the product").isGreaterThanOrEqualTo(6_250_000L);
        assertThat(w).as("not above it by three packets or more").isLessThan(6_250_000L + 3 * FULL);
        assertThat(window.limit()).as("the probe went beyond it once").isGreaterThan(w);
        assertThat(windows).as("each change told the peer").isNotEmpty().last().isEqualTo(w);
        final int changes = windows.size();
        run(20, rate, rtt);
        assertThat(windows).as("steady: no WINDOW per sample").hasSize(changes);
    }

    /**
     * Past 10 s the smallest round trip expires: the tuner drains the queue before it takes a new one, so the
     * window does not creep up (it took the current sample, queue included, and grew a packet or two every
     * 10 s: 26, 28, 30 packets in this run before). The probe every 10 s starts from a window near the
     * product: it steps by a quarter, so what it puts in the bottleneck queue ahead of calls is a quarter of
     * a product for a few round trips, not a whole one.
     */
    @Test
    void theWindowStaysNearTheProductPastTheFiltersAndLaterProbesDoNotDoubleIt() {
        final double rate = 125e6;
        final long rtt = 50_000_000L;
        free = 2 * FULL; // as the tuner assumes: so a window near the product finds no queue, and probes
        run(40, rate, rtt);
        final long settled = window.current();
        largest = 0;
        run(400, rate, rtt); // 20 s and more: at least one probe
        assertThat(largest).as("a probe adds a quarter and a packet at most").isLessThanOrEqualTo(settled + settled / 4 + 2 * FULL);
        assertThat(window.current()).as("near the product, as before the filters expired")
                .isLessThanOrEqualTo(settled);
    }

    /**
     * Product 250 KB, below the initial window: the initial window's excess queues from the first round
     * trip on, so the smallest round trip seen includes it and the estimate is about the initial window
     * (plus the two packets): it does not run away.
     */
    @Test
    void aShortLinkStaysNearTheInitialWindow() {
        run(50, 125e6, 2_000_000L);
        assertThat(window.current()).isLessThanOrEqualTo(INITIAL + 2 * FULL);
    }

    @Test
    void theWindowNeverPassesTheMaximum() {
        run(40, 1e9, 100_000_000L); // product 100 MB
        assertThat(window.current()).isEqualTo(MAX);
        assertThat(window.limit()).isEqualTo(MAX);
    }

    @Test
    void afterAnIdlePeriodTheEstimateStartsAgainFromTheInitialWindow() {
        run(40, 125e6, 50_000_000L);
        assertThat(window.current()).isGreaterThan(INITIAL);
        now += WindowTuner.IDLE_NANOS + 1;
        tuner.onData(consumed += FULL, now);
        assertThat(window.current()).isEqualTo(INITIAL);
        assertThat(windows).last().isEqualTo(INITIAL);
        run(40, 125e6, 20_000_000L); // product 2.5 MB: 9.5 packets, plus two
        assertThat(window.current()).as("windows %s", windows).isEqualTo(12 * FULL);
    }

    /** A reader that does not read: data arrives, nothing is consumed, the window never grows. */
    @Test
    void aWindowNeverGrowsForDataTheApplicationDoesNotConsume() {
        for (int i = 0; i < 50; i++) {
            tuner.onData(0, now);
            now += 50_000_000L;
            tuner.onPong(pings.get(pings.size() - 1), 0, now);
            now += 1_000_000L;
        }
        assertThat(window.current()).isEqualTo(INITIAL);
        assertThat(windows).isEmpty();
    }

    @Test
    void aPongThatAnswersNoPingIsIgnored() {
        tuner.onData(FULL, now);
        tuner.onPong(pings.get(0) + 1, FULL, now + 1_000_000);
        assertThat(tuner.samples()).isZero();
        tuner.onPong(pings.get(0), FULL, now + 2_000_000);
        assertThat(tuner.samples()).isEqualTo(1);
        tuner.onPong(pings.get(0), FULL, now + 3_000_000);
        assertThat(tuner.samples()).as("answered once").isEqualTo(1);
    }
}
