package dev.braid.internal.engine.io;

import dev.braid.testing.FakeTransport;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link ReadGate} alone: the transport sees only edges, strictly alternating, whatever the holds do. */
class ReadGateTest {
    private final FakeTransport transport = new FakeTransport();
    private final List<Boolean> calls = transport.readSuspensions;
    private final ReadGate gate = new ReadGate();

    ReadGateTest() {
        gate.attach(transport);
    }

    @Test
    void severalReasonsSuspendOnceAndResumeWhenTheLastGoes() {
        final ReadGate.Hold limit = gate.newHold(ReadGate.Reason.CALL_LIMIT);
        final ReadGate.Hold events = gate.newHold(ReadGate.Reason.SLOW_EVENT_LISTENERS);
        assertThat(limit.pause(() -> true)).isTrue();
        assertThat(events.pause(() -> true)).isTrue();
        assertThat(limit.pause(() -> true)).as("already held").isTrue();
        assertThat(calls).containsExactly(true);
        limit.release();
        limit.release(); // idempotent
        assertThat(gate.paused()).isTrue();
        events.release();
        assertThat(calls).containsExactly(true, false);
        assertThat(gate.paused()).isFalse();
        assertThat(gate.pauses(ReadGate.Reason.CALL_LIMIT)).isEqualTo(1);
        assertThat(gate.pauses(ReadGate.Reason.SLOW_EVENT_LISTENERS)).isEqualTo(1);
    }

    /** The cause went away between the reader's decision and its hold: the reader releases it itself. */
    @Test
    void aCauseGoneBeforeTheHoldIsTakenDoesNotLeaveReadingOff() {
        final AtomicBoolean blocked = new AtomicBoolean(true);
        final ReadGate.Hold h = gate.newHold(ReadGate.Reason.UNREAD_ANSWERS);
        blocked.set(false); // the writer drained and looked at the flag before it was set: did nothing
        assertThat(h.pause(blocked::get)).isFalse();
        assertThat(gate.paused()).isFalse();
        assertThat(calls).containsExactly(true, false);
    }
}
