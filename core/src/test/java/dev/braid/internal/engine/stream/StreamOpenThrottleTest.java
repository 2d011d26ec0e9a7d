package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The stream-open bucket on a clock the test drives: burst, rate, the abort's debt, off. */
class StreamOpenThrottleTest {
    private static final long MS = 1_000_000L;

    @Test
    void aFullBucketAllowsTheBurstThenOneOpenPerInterval() {
        final StreamOpenThrottle t = new StreamOpenThrottle(10, 3); // 100 ms per token
        final long t0 = 5_000 * MS;
        assertThat(t.tryOpen(t0)).isZero();
        assertThat(t.tryOpen(t0)).isZero();
        assertThat(t.tryOpen(t0)).isZero();
        assertThat(t.wouldWait(t0)).isTrue();
        assertThat(t.tryOpen(t0)).isEqualTo(100 * MS); // nothing taken: the same wait when asked again
        assertThat(t.tryOpen(t0 + 40 * MS)).isEqualTo(60 * MS);
        assertThat(t.tryOpen(t0 + 100 * MS)).isZero();
        assertThat(t.tryOpen(t0 + 100 * MS)).isEqualTo(100 * MS);
        // idle long enough: full again, no more than the burst
        final long later = t0 + 10_000 * MS;
        for (int i = 0; i < 3; i++) {
            assertThat(t.tryOpen(later)).isZero();
        }
        assertThat(t.tryOpen(later)).isPositive();
    }

    @Test
    void anAbortCostsNineMoreTokens() {
        final StreamOpenThrottle t = new StreamOpenThrottle(10, 1);
        final long t0 = 0;
        assertThat(t.tryOpen(t0)).isZero();
        t.peerAborted(t0);
        assertThat(StreamOpenThrottle.ABORT_COST).isEqualTo(9);
        assertThat(t.tryOpen(t0)).isEqualTo(1000 * MS); // open + abort: 10 tokens of 100 ms
        assertThat(t.tryOpen(t0 + 1000 * MS)).isZero();
    }

    @Test
    void zeroIsOff() {
        final StreamOpenThrottle t = new StreamOpenThrottle(0, 1);
        assertThat(t.enabled()).isFalse();
        for (int i = 0; i < 10_000; i++) {
            assertThat(t.tryOpen(0)).isZero();
            t.peerAborted(0);
        }
        assertThat(t.wouldWait(0)).isFalse();
    }
}
