package dev.braid.internal.engine.io;

import dev.braid.testing.Await;
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

    /**
     * A release that runs while the reader takes the same hold (a finishing call while the reader parks the
     * next one) must still leave exactly one "off" and one "on" per pause. It once did not: the release could
     * clear the hold's flag and drop the count between the reader's flag and its count (the count went to
     * -1, then back to 0, with no call to the transport), so the reader stopped decoding for a resume that
     * never came (LimitsTest's server hung with 14 calls unread, about one run in three on epoll). Here both
     * threads arrive while the test holds the gate's monitor, so they meet on it; the JVM lets the reader in
     * first in practice, so this checks the contended path, and the jcstress test
     * {@code ReadGateTests.ReleaseRacesTheTake} (scripts/jcstress -t ReadGate) is the one that reproduces the
     * old race (forbidden outcome seen at once on the old code, none on this one).
     */
    @Test
    void aReleaseRacingTheTakeStillResumes() throws Exception {
        final ReadGate.Hold h = gate.newHold(ReadGate.Reason.CALL_LIMIT);
        final AtomicBoolean blocked = new AtomicBoolean();
        final int rounds = 200;
        int bad = 0;
        for (int i = 0; i < rounds; i++) {
            blocked.set(true);
            final int before = calls.size();
            final Thread reader;
            final Thread releaser;
            synchronized (gate) {
                reader = new Thread(() -> h.pause(blocked::get), "reader"); // true or false: it stops decoding
                reader.start();
                Await.until("the reader waits for the gate", () -> reader.getState() == Thread.State.BLOCKED
                        || !reader.isAlive());
                releaser = new Thread(() -> {
                    blocked.set(false); // a call finished: the cause goes, then the hold is released
                    h.release();
                }, "releaser");
                releaser.start();
                Await.until("the releaser waits for the gate or is done", () -> releaser.getState()
                        == Thread.State.BLOCKED || !releaser.isAlive());
            }
            reader.join();
            releaser.join();
            if (!calls.subList(before, calls.size()).equals(List.of(true, false)) || gate.paused()) {
                bad++;
            }
        }
        assertThat(bad).as("rounds of %s without exactly one off and one on", rounds).isZero();
    }
    /**
     * The outstanding-call case, step by step on one thread: a finishing call frees a slot (the count falls),
     * the reader's own re-check sees it and goes on, fills the slot and parks the next call; only then does
     * the finishing call's release run. It must not resume reading: the limit is reached again.
     */
    @Test
    void aLateReleaseDoesNotResumeReadingForACauseThatIsBack() {
        final int limit = 2;
        final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger(limit);
        final java.util.function.BooleanSupplier atLimit = () -> inFlight.get() >= limit;
        final ReadGate.Hold h = gate.newHold(ReadGate.Reason.CALL_LIMIT);
        inFlight.decrementAndGet(); // a call finishes; its release has not run yet
        assertThat(h.pause(atLimit)).as("the reader's re-check saw the free slot").isFalse();
        inFlight.incrementAndGet(); // the reader dispatched the parked call into it
        assertThat(h.pause(atLimit)).as("and parked the next one").isTrue();
        h.releaseUnless(atLimit); // the finishing call's release, late
        assertThat(gate.paused()).isTrue();
        assertThat(calls).containsExactly(true, false, true);
        inFlight.decrementAndGet(); // another call finishes: now reading resumes
        h.releaseUnless(atLimit);
        assertThat(gate.paused()).isFalse();
        assertThat(calls).containsExactly(true, false, true, false);
        assertThat(gate.pauses(ReadGate.Reason.CALL_LIMIT)).isEqualTo(2);
    }
}
