package dev.braid.jcstress;

import dev.braid.internal.concurrent.MpmcArrayQueue;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIII_Result;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@link MpmcArrayQueue} (Vyukov's bounded ring): the buffer pool's free lists, recycled call records, the
 * nio event loop's tasks. Its contract: elements and their contents cross, none lost or repeated, FIFO per
 * producer, the capacity is a hard bound.
 */
public final class MpmcArrayQueueTests {
    private MpmcArrayQueueTests() {
    }

    /** An element with a plain field, written before the offer. */
    static final class Box {
        int value;
    }

    @JCStressTest
    @Description("What the producer writes into an element before offering it is what the consumer reads after polling it.")
    @Outcome(id = "-1", expect = ACCEPTABLE, desc = "the consumer looked before the offer")
    @Outcome(id = "42", expect = ACCEPTABLE, desc = "the consumer took the element and sees its contents")
    @Outcome(id = "0", expect = FORBIDDEN, desc = "the consumer took the element without what was written before the offer")
    @State
    public static class PublishesContents {
        final MpmcArrayQueue<Box> queue = new MpmcArrayQueue<>(2);
        final Box box = new Box();

        @Actor
        public void producer() {
            box.value = 42;
            queue.offer(box);
        }

        @Actor
        public void consumer(final I_Result r) {
            final Box b = queue.poll();
            r.r1 = b == null ? -1 : b.value;
        }
    }

    @JCStressTest
    @Description("Capacity 2, three offers from two producers (a1 then a2, and b): exactly two get in, and the "
            + "drain finds those two, a1 before a2.")
    @Outcome(id = "1, 1, 0, 1, 2, 0", expect = ACCEPTABLE, desc = "a1 and a2 in, b refused")
    @Outcome(id = "1, 0, 1, 1, 3, 0", expect = ACCEPTABLE, desc = "a1 then b in, a2 refused")
    @Outcome(id = "1, 0, 1, 3, 1, 0", expect = ACCEPTABLE, desc = "b then a1 in, a2 refused")
    @Outcome(expect = FORBIDDEN, desc = "over capacity, lost, repeated or out of a producer's order")
    @State
    public static class CapacityIsAHardBound {
        final MpmcArrayQueue<Object> queue = new MpmcArrayQueue<>(2);
        final Object a1 = new Object();
        final Object a2 = new Object();
        final Object b = new Object();

        @Actor
        public void producerA(final IIIIII_Result r) {
            r.r1 = queue.offer(a1) ? 1 : 0;
            r.r2 = queue.offer(a2) ? 1 : 0;
        }

        @Actor
        public void producerB(final IIIIII_Result r) {
            r.r3 = queue.offer(b) ? 1 : 0;
        }

        @Arbiter
        public void drain(final IIIIII_Result r) {
            r.r4 = id(queue.poll());
            r.r5 = id(queue.poll());
            r.r6 = id(queue.poll());
        }

        private int id(final Object o) {
            return o == null ? 0 : o == a1 ? 1 : o == a2 ? 2 : o == b ? 3 : -1;
        }
    }

    @JCStressTest
    @Description("Two consumers race for the two elements already queued: each gets one, a different one.")
    @Outcome(id = "1, 2", expect = ACCEPTABLE, desc = "the first consumer took the first element")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "the second consumer took the first element")
    @Outcome(expect = FORBIDDEN, desc = "an element taken twice, or a consumer found nothing")
    @State
    public static class ConsumersTakeEachElementOnce {
        final MpmcArrayQueue<Object> queue = new MpmcArrayQueue<>(2);
        final Object a = new Object();
        final Object b = new Object();

        public ConsumersTakeEachElementOnce() {
            queue.offer(a);
            queue.offer(b);
        }

        @Actor
        public void consumer1(final II_Result r) {
            r.r1 = id(queue.poll());
        }

        @Actor
        public void consumer2(final II_Result r) {
            r.r2 = id(queue.poll());
        }

        private int id(final Object o) {
            return o == null ? 0 : o == a ? 1 : o == b ? 2 : -1;
        }
    }

    @JCStressTest
    @Description("A producer offers a then b while a consumer polls twice; the rest is drained after: first in, "
            + "first out, none lost or repeated.")
    @Outcome(id = "0, 0, 1, 2", expect = ACCEPTABLE, desc = "both polls before the offers")
    @Outcome(id = "0, 1, 2, 0", expect = ACCEPTABLE, desc = "the second poll took a")
    @Outcome(id = "1, 0, 2, 0", expect = ACCEPTABLE, desc = "the first poll took a, the second was early")
    @Outcome(id = "1, 2, 0, 0", expect = ACCEPTABLE, desc = "both, in order")
    @Outcome(expect = FORBIDDEN, desc = "out of order, lost or repeated")
    @State
    public static class ProducerAndConsumer {
        final MpmcArrayQueue<Object> queue = new MpmcArrayQueue<>(4);
        final Object a = new Object();
        final Object b = new Object();

        @Actor
        public void producer() {
            queue.offer(a);
            queue.offer(b);
        }

        @Actor
        public void consumer(final IIII_Result r) {
            r.r1 = id(queue.poll());
            r.r2 = id(queue.poll());
        }

        @Arbiter
        public void drain(final IIII_Result r) {
            r.r3 = id(queue.poll());
            r.r4 = id(queue.poll());
            if (queue.poll() != null) {
                r.r4 = -1;
            }
        }

        private int id(final Object o) {
            return o == null ? 0 : o == a ? 1 : o == b ? 2 : -1;
        }
    }

    @JCStressTest
    @Description("Producer A offers a; producer B offers b, then polls. B's poll can come back empty although B's "
            + "own offer had completed: A claimed the first slot and has not filled it yet, and a poll never "
            + "skips a slot. So poll()'s null means 'nothing ready at the head', not 'empty'. Harmless where braid "
            + "uses it (a pool miss allocates; a loop task's producer wakes the loop after its offer completes).")
    @Outcome(id = "1, 1, 2, 0", expect = ACCEPTABLE, desc = "B's poll took a (A was first)")
    @Outcome(id = "1, 2, 1, 0", expect = ACCEPTABLE, desc = "B's poll took b (B was first)")
    @Outcome(id = "1, 0, 1, 2", expect = ACCEPTABLE_INTERESTING, desc = "B's poll found nothing ready although b was in: "
            + "A's slot came first and was still being filled")
    @Outcome(expect = FORBIDDEN, desc = "lost, repeated or out of order")
    @State
    public static class PollMayMissACompletedOffer {
        final MpmcArrayQueue<Object> queue = new MpmcArrayQueue<>(4);
        final Object a = new Object();
        final Object b = new Object();

        @Actor
        public void producerA() {
            queue.offer(a);
        }

        @Actor
        public void producerB(final IIII_Result r) {
            r.r1 = queue.offer(b) ? 1 : 0;
            r.r2 = id(queue.poll());
        }

        @Arbiter
        public void drain(final IIII_Result r) {
            r.r3 = id(queue.poll());
            r.r4 = id(queue.poll());
            if (queue.poll() != null) {
                r.r4 = -1;
            }
        }

        private int id(final Object o) {
            return o == null ? 0 : o == a ? 1 : o == b ? 2 : -1;
        }
    }
}
