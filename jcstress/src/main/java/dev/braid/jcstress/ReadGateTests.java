package dev.braid.jcstress;

import dev.braid.internal.engine.io.ReadGate;
import dev.braid.testing.FakeTransport;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZZ_Result;

import java.util.List;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@link ReadGate}: the reader takes a hold while its cause holds, any thread removes the cause and releases
 * it. Its contract: whatever the interleaving, the transport sees exactly one "reading off" and then one
 * "reading on" for a pause whose cause went away, so the reader, which stops decoding either way, is always
 * resumed.
 */
public final class ReadGateTests {
    private ReadGateTests() {
    }

    @JCStressTest
    @Description("The reader pauses on a cause that a finishing call removes and releases at the same time (the "
            + "call limit: the reader parks a call as another one finishes).")
    @Outcome(id = "true, false", expect = ACCEPTABLE, desc = "off, then on: the reader is resumed")
    @Outcome(id = "false, false", expect = FORBIDDEN, desc = "no off/on pair: the reader waits for a resume that "
            + "never comes (a release slipped between the hold's flag and its count)")
    @Outcome(id = ".*, true", expect = FORBIDDEN, desc = "reading left off, or the gate still paused")
    @State
    public static class ReleaseRacesTheTake {
        final FakeTransport transport = new FakeTransport();
        final ReadGate gate = new ReadGate();
        final ReadGate.Hold hold;
        volatile boolean blocked = true;

        public ReleaseRacesTheTake() {
            gate.attach(transport);
            hold = gate.newHold(ReadGate.Reason.CALL_LIMIT);
        }

        @Actor
        public void reader() {
            hold.pause(() -> blocked);
        }

        @Actor
        public void finishingCall() {
            blocked = false;
            hold.releaseUnless(atLimit);
        }

        @Arbiter
        public void arbiter(final ZZ_Result r) {
            final List<Boolean> calls = transport.readSuspensions;
            r.r1 = calls.equals(List.of(true, false));
            r.r2 = gate.paused() || (!calls.isEmpty() && calls.get(calls.size() - 1));
        }
    }
    @JCStressTest
    @Description("The call limit (1) is reached and the reader has parked a call; a call finishes and releases "
            + "late (releaseUnless): meanwhile the reader's own re-check may have seen the free slot, dispatched "
            + "the parked call into it and parked the next one.")
    @Outcome(id = "true, true", expect = ACCEPTABLE, desc = "the slot was refilled: reading stays off")
    @Outcome(id = "false, false", expect = ACCEPTABLE, desc = "the slot is free: reading is on")
    @Outcome(id = "true, false", expect = FORBIDDEN, desc = "reading off with a free slot: a lost wake-up")
    @Outcome(id = "false, true", expect = FORBIDDEN, desc = "reading on at the limit: a late release resumed "
            + "reading for nothing")
    @State
    public static class LateReleaseAfterTheReaderRefilled {
        final FakeTransport transport = new FakeTransport();
        final ReadGate gate = new ReadGate();
        final ReadGate.Hold hold;
        final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger(1);
        final java.util.function.BooleanSupplier atLimit = () -> inFlight.get() >= 1;

        public LateReleaseAfterTheReaderRefilled() {
            gate.attach(transport);
            hold = gate.newHold(ReadGate.Reason.CALL_LIMIT);
        }

        @Actor
        public void reader() {
            if (!hold.pause(atLimit)) { // the slot is free already: dispatch the parked call, park the next
                inFlight.incrementAndGet();
                hold.pause(atLimit);
            }
        }

        @Actor
        public void finishingCall() {
            inFlight.decrementAndGet();
            hold.releaseUnless(atLimit);
        }

        @Arbiter
        public void arbiter(final ZZ_Result r) {
            r.r1 = gate.paused();
            r.r2 = atLimit.getAsBoolean();
        }
    }
}
