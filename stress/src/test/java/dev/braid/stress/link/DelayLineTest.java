package dev.braid.stress.link;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link DelayLine}'s arrays: each goes back to the line whatever becomes of its chunk. */
class DelayLineTest {
    private static final int CHUNK = 4096;

    @Test
    void arraysAreReusedWhetherTheirChunksAreDeliveredLostOrDropped() throws Exception {
        final LinkSpec spec = LinkSpec.of(Duration.ZERO, 0); // no delay, no rate limit: take() returns at once
        final LinkControl control = new LinkControl(spec.bytesPerSecond());
        final DelayLine line = new DelayLine(spec, control, CHUNK);
        for (int i = 0; i < 10_000; i++) {
            final byte[] b = line.buffer();
            assertThat(b).hasSize(CHUNK);
            b[0] = (byte) i;
            assertThat(line.offer(b, 1 + i % CHUNK, false)).isTrue();
            final DelayLine.Item item = line.take();
            assertThat(item.data()[0]).isEqualTo((byte) i);
            assertThat(item.length()).isEqualTo(1 + i % CHUNK);
            switch (i % 3) {
                case 0 -> line.delivered(item);
                case 1 -> line.lost(item);
                default -> {
                    line.recycle(item.data()); // as a producer that had nothing to offer
                    line.delivered(new DelayLine.Item(null, item.length(), 0, false));
                }
            }
        }
        control.blackhole(true);
        for (int i = 0; i < 1_000; i++) {
            assertThat(line.offer(line.buffer(), CHUNK, false)).as("dropped by the blackhole").isFalse();
        }
        assertThat(line.arraysMade()).as("arrays made for 11,000 chunks").isEqualTo(1);
        assertThat(line.heldBytes()).isZero();
        assertThat(line.bytesOut()).isPositive();
    }
}
