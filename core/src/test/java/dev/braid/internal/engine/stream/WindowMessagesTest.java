package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The sending side of window auto-tuning: a peer's WINDOW moves every open stream's window (a stream parked
 * for credit goes again when the new window covers it), every stream opened after it starts with it, the
 * send budget follows it; malformed WINDOWs close the connection (a ProtocolException), and WINDOWs
 * without the negotiated feature are dropped.
 */
class WindowMessagesTest {
    private static final Procedure P = Procedure.of(0x57494e44, 1, 1);
    private static final long FULL = StreamFlowControl.FULL_PACKET_COST;
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

    @Test
    void aGrownWindowLetsAParkedStreamGoAndNewStreamsStartWithIt() {
        table.windowTuning(true);
        final StreamImpl s = (StreamImpl) table.register(P, 1, false, true, FULL, 1 << 24, 1);
        s.write(ByteBuffer.allocate(2 * FrameHeader.MAX_STREAM_PAYLOAD));
        assertThat(pump()).as("a window of one packet").isEqualTo(1);
        assertThat(pump()).as("parked for credit").isZero();
        table.onWindow(window(8 * FULL));
        assertThat(s.flow.sendWindow()).isEqualTo(8 * FULL);
        assertThat(pump()).as("the WINDOW's extra credit re-offered it").isEqualTo(1);
        assertThat(table.sendBudget.budget()).as("the budget follows the peer's window").isEqualTo(8 * FULL);
        final StreamImpl later = (StreamImpl) table.register(P, 2, false, true, FULL, 1 << 24, 1);
        assertThat(later.flow.sendWindow()).isEqualTo(8 * FULL);
        assertThat(later.flow.sendCredit()).isEqualTo(8 * FULL);
        table.onWindow(window(4 * FULL));
        assertThat(s.flow.sendCredit()).as("shrunk: in flight (two packets) stays, credit goes down")
                .isEqualTo(2 * FULL);
        s.abort("over");
        later.abort("over");
    }

    @Test
    void malformedWindowsAreProtocolErrorsAndUnnegotiatedOnesAreDropped() {
        assertThatThrownBy(() -> table.onWindow(ByteBuffer.allocate(3))).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("malformed WINDOW");
        assertThatThrownBy(() -> table.onWindow(window(511))).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("511");
        assertThatThrownBy(() -> table.onPing(ByteBuffer.allocate(4))).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("malformed PING");
        final long dropped = table.dropped();
        table.onWindow(window(8 * FULL));
        assertThat(table.dropped()).isEqualTo(dropped + 1);
        assertThat(table.sendBudget.budget()).isEqualTo(BraidConfig.DEFAULT_STREAM_WINDOW);
    }

    private static ByteBuffer window(final long w) {
        return ByteBuffer.allocate(4).putInt(0, (int) w);
    }

    private int pump() {
        final int n = scheduler.pump(batch, 0, batch.length, Outbound.STREAM_QUANTUM);
        for (int i = 0; i < n; i++) {
            batch[i].release();
            batch[i] = null;
        }
        return n;
    }
}
