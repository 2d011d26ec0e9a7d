package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link SendBudget}'s packet size (issue 13: a packet is a burst that waits ahead of calls) and its share. */
class SendBudgetTest {
    private static final int MAX = dev.braid.internal.wire.FrameHeader.MAX_STREAM_PAYLOAD;

    @Test
    void aPacketTakesAboutHalfAMillisecondAtTheDeliveryRate() {
        assertThat(SendBudget.payloadFor(2e9, -1)).as("loopback").isEqualTo(MAX);
        assertThat(SendBudget.payloadFor(300e6, -1)).isEqualTo(131_044);
        assertThat(SendBudget.payloadFor(125e6, -1)).as("1 Gbit/s").isEqualTo(32_740);
        assertThat(SendBudget.payloadFor(10e6, -1)).isEqualTo(8_164);
        assertThat(SendBudget.payloadFor(0, -1)).isEqualTo(8_164);
    }

    @Test
    void fourPacketsFitThePeersWindow() {
        assertThat(SendBudget.payloadFor(2e9, 4L * (MAX + 28))).isEqualTo(MAX);
        assertThat(SendBudget.payloadFor(2e9, 4L * (MAX + 28) - 1)).isEqualTo(131_044);
        assertThat(SendBudget.payloadFor(2e9, 65_536)).isEqualTo(8_164);
    }

    @Test
    void largestPacketsUntilARateIsKnownAndAlwaysWithoutAdaptation() {
        final SendBudget fixed = new SendBudget(1 << 20);
        long now = 0;
        for (int i = 0; i < 100; i++) {
            fixed.credited(100_000, now += 5_000_000L, 20_000_000L); // 20 MB/s
        }
        assertThat(fixed.packetPayload()).as("auto-tuning off: libvirt's largest").isEqualTo(MAX);

        final SendBudget adaptive = new SendBudget(1 << 20);
        adaptive.adaptive(true);
        assertThat(adaptive.packetPayload()).isEqualTo(MAX);
        now = 0;
        adaptive.credited(62_500, now, 20_000_000L);
        assertThat(adaptive.packetPayload()).as("no interval measured yet").isEqualTo(MAX);
        for (int i = 0; i < 8; i++) {
            adaptive.credited(625_000, now += 5_000_000L, 20_000_000L); // 125 MB/s
        }
        assertThat(adaptive.packetPayload()).isEqualTo(32_740);
        assertThat(adaptive.packetCost()).isEqualTo(32_768);
        for (int i = 0; i < 8; i++) {
            adaptive.credited(10_000_000, now += 5_000_000L, 20_000_000L); // 2 GB/s: the largest of the last intervals wins
        }
        assertThat(adaptive.packetPayload()).isEqualTo(MAX);
    }

    @Test
    void onLoopbackAndLansPacketsStayTheLargestWhateverTheRate() {
        final SendBudget b = new SendBudget(1 << 20);
        b.adaptive(true);
        long now = 0;
        b.credited(0, now, 80_000L);
        for (int i = 0; i < 8; i++) {
            b.credited(625_000, now += 5_000_000L, 80_000L); // 125 MB/s, CPU-bound on a 80 us round trip
        }
        assertThat(b.packetPayload()).isEqualTo(MAX);
        for (int i = 0; i < 8; i++) {
            b.credited(625_000, now += 5_000_000L, 2_000_000L); // the same rate on a 2 ms link
        }
        assertThat(b.packetPayload()).isEqualTo(32_740);
    }

    @Test
    void theBudgetFollowsThePeersWindowBelowTheConfiguredOneAndSharesAreWholePackets() {
        final SendBudget b = new SendBudget(4L * (MAX + 28));
        b.adaptive(true);
        long now = 0;
        b.credited(0, now, 20_000_000L);
        for (int i = 0; i < 8; i++) {
            b.credited(625_000, now += 5_000_000L, 20_000_000L);
        }
        b.follow(300_000);
        assertThat(b.budget()).isEqualTo(300_000);
        for (int i = 0; i < 4; i++) {
            b.enter();
        }
        assertThat(b.share()).isEqualTo(75_000);
        assertThat(b.allows(65_536, 32_768)).as("75,000 rounded up to three 32 KiB packets").isTrue();
        assertThat(b.allows(98_304, 32_768)).isFalse();
        b.sent(290_000);
        assertThat(b.allows(0, 32_768)).as("the budget in total").isFalse();
    }
}
