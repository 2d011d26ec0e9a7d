package dev.braid.jcstress;

import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.SpscBufferRing;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import java.lang.invoke.VarHandle;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@link SpscBufferRing}: one producer (a stream's writing thread), one consumer (the connection's writer).
 * Its contract: elements and their contents cross in order, none lost or repeated; a full ring refuses and a
 * poll frees a slot; {@code isFullVolatile()} can be the second half of a waiter's Dekker-style check.
 */
public final class SpscBufferRingTests {
    private SpscBufferRingTests() {
    }

    @JCStressTest
    @Description("What the producer writes into a buffer before offering it is what the consumer reads after polling it.")
    @Outcome(id = "-1", expect = ACCEPTABLE, desc = "the consumer looked before the offer")
    @Outcome(id = "42", expect = ACCEPTABLE, desc = "the consumer took the buffer and sees its contents")
    @Outcome(id = "0", expect = FORBIDDEN, desc = "the consumer took the buffer without the bytes written before the offer")
    @State
    public static class PublishesContents {
        final SpscBufferRing ring = new SpscBufferRing(2);
        final PooledBuffer a = Buffers.fresh();

        @Actor
        public void producer() {
            a.byteBuffer().putInt(0, 42);
            ring.offer(a);
        }

        @Actor
        public void consumer(final I_Result r) {
            final PooledBuffer b = ring.poll();
            r.r1 = b == null ? -1 : b.byteBuffer().getInt(0);
        }

        @Arbiter
        public void release(final I_Result r) {
            ring.poll();
            Buffers.release(a);
        }
    }

    @JCStressTest
    @Description("Two offers, two polls racing with them, then what is left: first in, first out, none lost or repeated.")
    @Outcome(id = "0, 0, 2", expect = ACCEPTABLE, desc = "both polls before the offers")
    @Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "the second poll took the first buffer")
    @Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "the first poll took the first buffer, the second was early")
    @Outcome(id = "1, 2, 0", expect = ACCEPTABLE, desc = "both buffers, in order")
    @Outcome(expect = FORBIDDEN, desc = "out of order, repeated or lost")
    @State
    public static class FirstInFirstOut {
        final SpscBufferRing ring = new SpscBufferRing(4);
        final PooledBuffer a = Buffers.fresh();
        final PooledBuffer b = Buffers.fresh();

        @Actor
        public void producer() {
            ring.offer(a);
            ring.offer(b);
        }

        @Actor
        public void consumer(final III_Result r) {
            r.r1 = Buffers.id(ring.poll(), a, b);
            r.r2 = Buffers.id(ring.poll(), a, b);
        }

        @Arbiter
        public void left(final III_Result r) {
            r.r3 = ring.size();
            while (ring.poll() != null) {
                // drain
            }
            Buffers.release(a, b);
        }
    }

    @JCStressTest
    @Description("A ring of one slot: the second offer is refused unless the consumer freed the slot first.")
    @Outcome(id = "1, 0, 0, 1", expect = ACCEPTABLE, desc = "the poll came first and found nothing; the ring keeps a, refuses b")
    @Outcome(id = "1, 1, 1, 2", expect = ACCEPTABLE, desc = "the poll took a between the offers; b took its slot")
    @Outcome(id = "1, 0, 1, 0", expect = ACCEPTABLE, desc = "b was refused, then the poll took a")
    @Outcome(expect = FORBIDDEN, desc = "an offer into a full ring, a lost or a repeated buffer")
    @State
    public static class FullRingRefuses {
        final SpscBufferRing ring = new SpscBufferRing(1);
        final PooledBuffer a = Buffers.fresh();
        final PooledBuffer b = Buffers.fresh();

        @Actor
        public void producer(final IIII_Result r) {
            r.r1 = ring.offer(a) ? 1 : 0;
            r.r2 = ring.offer(b) ? 1 : 0;
        }

        @Actor
        public void consumer(final IIII_Result r) {
            r.r3 = Buffers.id(ring.poll(), a, b);
        }

        @Arbiter
        public void left(final IIII_Result r) {
            r.r4 = Buffers.id(ring.poll(), a, b);
            if (ring.poll() != null) {
                r.r4 = -1; // a slot beyond the capacity
            }
            Buffers.release(a, b);
        }
    }

    @JCStressTest
    @Description("The engine's wait for ring space: the waiter publishes itself, then looks with isFullVolatile(); "
            + "the consumer polls, then (after a full fence) looks for a waiter. One of them must see the other.")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "lost wake-up: the waiter saw a full ring, the consumer saw no waiter")
    @Outcome(expect = ACCEPTABLE, desc = "the waiter saw the free slot, or the consumer saw the waiter")
    @State
    public static class WaiterSeesSpaceOrIsSeen {
        final SpscBufferRing ring = new SpscBufferRing(1);
        final PooledBuffer a = Buffers.fresh();
        volatile int waiting;

        public WaiterSeesSpaceOrIsSeen() {
            ring.offer(a);
        }

        @Actor
        public void waiter(final II_Result r) {
            waiting = 1;
            r.r1 = ring.isFullVolatile() ? 1 : 0;
        }

        @Actor
        public void consumer(final II_Result r) {
            ring.poll();
            VarHandle.fullFence();
            r.r2 = waiting;
        }

        @Arbiter
        public void release(final II_Result r) {
            Buffers.release(a);
        }
    }

    @JCStressTest
    @Description("As WaiterSeesSpaceOrIsSeen, without the consumer's fence: poll() ends with a release store, which "
            + "a later volatile read may overtake (store-load). A waker must put a full fence, or an atomic "
            + "read-modify-write, between its poll and its look at the waiter. The engine's writer has both "
            + "between StreamScheduler.visit's poll and StreamImpl.onRingSpace: the volatile store that "
            + "releases the stream's out token (a full fence on x86) and, for data packets, the atomic add "
            + "that takes credit.")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "lost wake-up: poll() alone does not order the waker's look")
    @Outcome(expect = ACCEPTABLE, desc = "the waiter saw the free slot, or the consumer saw the waiter")
    @State
    public static class PollAloneDoesNotOrderTheWakersLook {
        final SpscBufferRing ring = new SpscBufferRing(1);
        final PooledBuffer a = Buffers.fresh();
        volatile int waiting;

        public PollAloneDoesNotOrderTheWakersLook() {
            ring.offer(a);
        }

        @Actor
        public void waiter(final II_Result r) {
            waiting = 1;
            r.r1 = ring.isFullVolatile() ? 1 : 0;
        }

        @Actor
        public void consumer(final II_Result r) {
            ring.poll();
            r.r2 = waiting;
        }

        @Arbiter
        public void release(final II_Result r) {
            Buffers.release(a);
        }
    }
}
