package dev.braid.jcstress;

import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.MpscBufferQueue;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@link MpscBufferQueue}: any thread offers (the outbound lanes, a stream's receive queue), one consumer
 * polls. Its contract: each producer's buffers come out in its order, with their contents, none lost or
 * repeated; a producer's offer, then its look at a waiter, cannot both miss a consumer that published itself
 * and then looked with {@code isEmptyVolatile()}.
 */
public final class MpscBufferQueueTests {
    private MpscBufferQueueTests() {
    }

    @JCStressTest
    @Description("What the producer writes into a buffer before offering it is what the consumer reads after polling it.")
    @Outcome(id = "-1", expect = ACCEPTABLE, desc = "the consumer looked before the offer")
    @Outcome(id = "42", expect = ACCEPTABLE, desc = "the consumer took the buffer and sees its contents")
    @Outcome(id = "0", expect = FORBIDDEN, desc = "the consumer took the buffer without the bytes written before the offer")
    @State
    public static class PublishesContents {
        final MpscBufferQueue queue = new MpscBufferQueue();
        final PooledBuffer a = Buffers.fresh();

        @Actor
        public void producer() {
            a.byteBuffer().putInt(0, 42);
            queue.offer(a);
        }

        @Actor
        public void consumer(final I_Result r) {
            final PooledBuffer b = queue.poll();
            r.r1 = b == null ? -1 : b.byteBuffer().getInt(0);
        }

        @Arbiter
        public void release(final I_Result r) {
            queue.poll();
            Buffers.release(a);
        }
    }

    @JCStressTest
    @Description("Two producers race (one offers a1 then a2, the other b); the consumer then drains: each buffer "
            + "once, a1 before a2.")
    @Outcome(id = "1, 2, 3, 0", expect = ACCEPTABLE, desc = "b last")
    @Outcome(id = "1, 3, 2, 0", expect = ACCEPTABLE, desc = "b between")
    @Outcome(id = "3, 1, 2, 0", expect = ACCEPTABLE, desc = "b first")
    @Outcome(expect = FORBIDDEN, desc = "a producer's order broken, a buffer lost or repeated")
    @State
    public static class ProducersKeepTheirOrder {
        final MpscBufferQueue queue = new MpscBufferQueue();
        final PooledBuffer a1 = Buffers.fresh();
        final PooledBuffer a2 = Buffers.fresh();
        final PooledBuffer b = Buffers.fresh();

        @Actor
        public void producerA() {
            queue.offer(a1);
            queue.offer(a2);
        }

        @Actor
        public void producerB() {
            queue.offer(b);
        }

        @Arbiter
        public void drain(final IIII_Result r) {
            r.r1 = Buffers.id(queue.poll(), a1, a2, b);
            r.r2 = Buffers.id(queue.poll(), a1, a2, b);
            r.r3 = Buffers.id(queue.poll(), a1, a2, b);
            r.r4 = Buffers.id(queue.poll(), a1, a2, b);
            Buffers.release(a1, a2, b);
        }
    }

    @JCStressTest
    @Description("A producer offers a then b while the consumer polls twice; the rest is drained after: first in, "
            + "first out, none lost or repeated.")
    @Outcome(id = "0, 0, 1, 2", expect = ACCEPTABLE, desc = "both polls before the offers")
    @Outcome(id = "0, 1, 2, 0", expect = ACCEPTABLE, desc = "the second poll took a")
    @Outcome(id = "1, 0, 2, 0", expect = ACCEPTABLE, desc = "the first poll took a, the second was early")
    @Outcome(id = "1, 2, 0, 0", expect = ACCEPTABLE, desc = "both, in order")
    @Outcome(expect = FORBIDDEN, desc = "out of order, lost or repeated")
    @State
    public static class ProducerAndConsumer {
        final MpscBufferQueue queue = new MpscBufferQueue();
        final PooledBuffer a = Buffers.fresh();
        final PooledBuffer b = Buffers.fresh();

        @Actor
        public void producer() {
            queue.offer(a);
            queue.offer(b);
        }

        @Actor
        public void consumer(final IIII_Result r) {
            r.r1 = Buffers.id(queue.poll(), a, b);
            r.r2 = Buffers.id(queue.poll(), a, b);
        }

        @Arbiter
        public void drain(final IIII_Result r) {
            r.r3 = Buffers.id(queue.poll(), a, b);
            r.r4 = Buffers.id(queue.poll(), a, b);
            if (queue.poll() != null) {
                r.r4 = -1;
            }
            Buffers.release(a, b);
        }
    }

    @JCStressTest
    @Description("The engine's wait for data (a stream's reader): the reader publishes itself, then looks with "
            + "isEmptyVolatile(); the producer offers, then looks for a reader. One of them must see the other.")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "lost wake-up: the reader saw nothing, the producer saw no reader")
    @Outcome(expect = ACCEPTABLE, desc = "the reader saw the buffer, or the producer saw the reader")
    @State
    public static class ReaderSeesDataOrIsSeen {
        final MpscBufferQueue queue = new MpscBufferQueue();
        final PooledBuffer a = Buffers.fresh();
        volatile int waiting;

        @Actor
        public void reader(final II_Result r) {
            waiting = 1;
            r.r1 = queue.isEmptyVolatile() ? 1 : 0;
        }

        @Actor
        public void producer(final II_Result r) {
            queue.offer(a);
            r.r2 = waiting;
        }

        @Arbiter
        public void release(final II_Result r) {
            queue.poll();
            Buffers.release(a);
        }
    }
}
