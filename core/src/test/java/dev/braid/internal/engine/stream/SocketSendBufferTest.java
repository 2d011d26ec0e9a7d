package dev.braid.internal.engine.stream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The socket send buffer that follows the peer's tuned window ({@link StreamTable#socketSendBufferFor}): on a
 * long link the window in flight plus a quarter, on loopback and LANs (or before the round trip is known) the
 * configured size, which bounds what a call finds queued ahead of it in the kernel.
 */
class SocketSendBufferTest {
    private static final int CONFIGURED = 256 * 1024;

    @Test
    void aLongLinkGetsTheWindowAndAQuarter() {
        assertThat(StreamTable.socketSendBufferFor(CONFIGURED, 8L << 20, true)).isEqualTo(10 << 20);
    }

    @Test
    void neverBelowTheConfiguredSize() {
        assertThat(StreamTable.socketSendBufferFor(CONFIGURED, 64 * 1024, true)).isEqualTo(CONFIGURED);
    }

    @Test
    void aShortLinkKeepsTheConfiguredSize() {
        assertThat(StreamTable.socketSendBufferFor(CONFIGURED, 1L << 20, false)).isEqualTo(CONFIGURED);
        assertThat(StreamTable.socketSendBufferFor(CONFIGURED, 8L << 20, false)).isEqualTo(CONFIGURED);
    }

    @Test
    void theOperatingSystemsAutotuningStaysOn() {
        assertThat(StreamTable.socketSendBufferFor(0, 8L << 20, true)).isZero();
        assertThat(StreamTable.socketSendBufferFor(0, 8L << 20, false)).isZero();
    }

    @Test
    void hugeWindowsAreCappedAtIntMax() {
        assertThat(StreamTable.socketSendBufferFor(CONFIGURED, 1L << 40, true)).isEqualTo(Integer.MAX_VALUE);
    }
}
