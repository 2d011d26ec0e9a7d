package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** The window of maxPeerStreamAbortsPerWindow, on a clock the test drives (no timing involved). */
class PeerAbortLimitTest {
    private static final long S = 1_000_000_000L;

    @Test
    void oneAbortMoreThanTheLimitWithinTheWindowIsRefused() {
        final PeerAbortLimit l = new PeerAbortLimit(3, Duration.ofSeconds(30));
        final long t0 = 123 * S;
        assertThat(l.aborted(t0)).isFalse();
        assertThat(l.aborted(t0 + 10 * S)).isFalse();
        assertThat(l.aborted(t0 + 29 * S)).isFalse();
        assertThat(l.count()).isEqualTo(3);
        assertThat(l.aborted(t0 + 30 * S - 1)).as("the fourth, still inside the window").isTrue();
        assertThat(l.describe()).isEqualTo("limit maxPeerStreamAbortsPerWindow = 3 per peerStreamAbortWindow = 30000 ms");
    }

    @Test
    void theFirstAbortAfterTheWindowStartsTheNextOne() {
        final PeerAbortLimit l = new PeerAbortLimit(3, Duration.ofSeconds(30));
        long t = -5 * S; // nanoTime may be negative
        for (int window = 0; window < 5; window++) {
            for (int i = 0; i < 3; i++) {
                assertThat(l.aborted(t + i)).isFalse();
            }
            t += 30 * S; // exactly one window after its start: a new window
            assertThat(l.aborted(t)).as("first abort of window " + (window + 1)).isFalse();
            assertThat(l.count()).isEqualTo(1);
            assertThat(l.windowStart()).isEqualTo(t);
            assertThat(l.aborted(t + 1)).isFalse();
            assertThat(l.aborted(t + 2)).isFalse();
            t += 30 * S;
        }
    }

    @Test
    void zeroIsNoLimit() {
        final PeerAbortLimit l = new PeerAbortLimit(0, Duration.ofMillis(1));
        for (int i = 0; i < 100_000; i++) {
            assertThat(l.aborted(i)).isFalse();
        }
    }
}
