package dev.braid.internal.concurrent;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class MpscBufferQueueTest {
    private final BufferPool pool = new BufferPool();

    private PooledBuffer stamped(final int producer, final int seq) {
        final PooledBuffer b = pool.acquire(8);
        b.byteBuffer().putInt(0, producer).putInt(4, seq);
        return b;
    }

    @Test
    void emptyQueue() {
        final MpscBufferQueue q = new MpscBufferQueue();
        assertThat(q.isEmpty()).isTrue();
        assertThat(q.poll()).isNull();
        assertThat(q.peek()).isNull();
    }

    @Test
    void fifoOnOneThreadAcrossBatches() {
        final MpscBufferQueue q = new MpscBufferQueue();
        final PooledBuffer a = stamped(0, 0);
        final PooledBuffer b = stamped(0, 1);
        final PooledBuffer c = stamped(0, 2);
        q.offer(a);
        q.offer(b);
        assertThat(q.peek()).isSameAs(a);
        assertThat(q.peek()).as("peek does not remove").isSameAs(a);
        assertThat(q.poll()).isSameAs(a);
        q.offer(c); // lands behind b, which already moved to the consumer's chain
        assertThat(q.isEmpty()).isFalse();
        assertThat(q.poll()).isSameAs(b);
        assertThat(q.poll()).isSameAs(c);
        assertThat(q.poll()).isNull();
        assertThat(q.isEmpty()).isTrue();
        a.release();
        b.release();
        c.release();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** Several producers at once: each producer's buffers come out in the order it offered them, none lost. */
    @Test
    @Timeout(60)
    void fifoPerProducerUnderConcurrentProducers() throws Exception {
        final MpscBufferQueue q = new MpscBufferQueue();
        final int producers = 4;
        final int perProducer = 50_000;
        final Semaphore inFlight = new Semaphore(4096); // bounds the buffers in the queue
        final CountDownLatch start = new CountDownLatch(1);
        final ExecutorService exec = Executors.newFixedThreadPool(producers);
        final int[] next = new int[producers];
        try {
            final List<Future<?>> futures = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                final int id = p;
                futures.add(exec.submit(() -> {
                    start.await();
                    for (int i = 0; i < perProducer; i++) {
                        inFlight.acquire();
                        q.offer(stamped(id, i));
                    }
                    return null;
                }));
            }
            start.countDown();
            int received = 0;
            long polls = 0;
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(50);
            while (received < producers * perProducer) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("only " + received + " buffers arrived: " + Arrays.toString(next));
                }
                final PooledBuffer peeked = (++polls % 7 == 0) ? q.peek() : null;
                final PooledBuffer b = q.poll();
                if (b == null) {
                    assertThat(peeked).isNull();
                    Thread.onSpinWait();
                    continue;
                }
                if (peeked != null) {
                    assertThat(b).as("poll returns what peek showed").isSameAs(peeked);
                }
                final int producer = b.byteBuffer().getInt(0);
                final int seq = b.byteBuffer().getInt(4);
                assertThat(seq).as("next from producer %d", producer).isEqualTo(next[producer]);
                next[producer]++;
                received++;
                b.release();
                inFlight.release();
            }
            for (Future<?> f : futures) {
                f.get(10, TimeUnit.SECONDS);
            }
        } finally {
            exec.shutdownNow();
            assertThat(exec.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(next).containsOnly(perProducer);
        assertThat(q.isEmpty()).isTrue();
        assertThat(q.poll()).isNull();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }
}
