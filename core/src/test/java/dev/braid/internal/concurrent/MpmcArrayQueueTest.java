package dev.braid.internal.concurrent;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class MpmcArrayQueueTest {

    @Test
    void capacityIsTheNextPowerOfTwoAtLeastTwo() {
        final int[][] cases = {{0, 2}, {1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024}, {8192, 8192}};
        for (int[] c : cases) {
            assertThat(new MpmcArrayQueue<Integer>(c[0]).capacity()).as("requested %d", c[0]).isEqualTo(c[1]);
        }
    }

    @Test
    void boundedFifo() {
        final MpmcArrayQueue<Integer> q = new MpmcArrayQueue<>(4);
        assertThat(q.poll()).isNull();
        for (int i = 1; i <= 4; i++) {
            assertThat(q.offer(i)).isTrue();
        }
        assertThat(q.offer(5)).as("full").isFalse();
        assertThat(q.poll()).isEqualTo(1);
        assertThat(q.offer(5)).isTrue();
        assertThat(q.offer(6)).as("full again").isFalse();
        assertThat(q.poll()).isEqualTo(2);
        assertThat(q.poll()).isEqualTo(3);
        assertThat(q.poll()).isEqualTo(4);
        assertThat(q.poll()).isEqualTo(5);
        assertThat(q.poll()).isNull();
    }

    /** Random offers and polls on one thread, checked against ArrayDeque with the same bound, over many laps. */
    @Test
    void behavesLikeABoundedDequeOverManyLaps() {
        final SplittableRandom r = new SplittableRandom(42);
        for (int capacity : new int[]{2, 4, 8, 64}) {
            final MpmcArrayQueue<Integer> q = new MpmcArrayQueue<>(capacity);
            final ArrayDeque<Integer> model = new ArrayDeque<>();
            for (int i = 0; i < 200_000; i++) {
                if (r.nextBoolean()) {
                    assertThat(q.offer(i)).as("offer at size %d", model.size()).isEqualTo(model.size() < capacity);
                    if (model.size() < capacity) {
                        model.add(i);
                    }
                } else {
                    assertThat(q.poll()).isEqualTo(model.poll());
                }
            }
        }
    }

    /** Producers and consumers at once: every element arrives exactly once, each producer's in order per consumer. */
    @Test
    @Timeout(60)
    void concurrentProducersAndConsumers() throws Exception {
        final MpmcArrayQueue<Long> q = new MpmcArrayQueue<>(64);
        final int producers = 3;
        final int consumers = 3;
        final int perProducer = 100_000;
        final AtomicInteger consumed = new AtomicInteger();
        final int[][] seen = new int[producers][perProducer];
        final CountDownLatch start = new CountDownLatch(1);
        final ExecutorService exec = Executors.newFixedThreadPool(producers + consumers);
        try {
            final List<Future<?>> futures = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                final long id = p;
                futures.add(exec.submit(() -> {
                    start.await();
                    for (int i = 0; i < perProducer; i++) {
                        final Long v = (id << 32) | i;
                        while (!q.offer(v)) {
                            Thread.onSpinWait();
                        }
                    }
                    return null;
                }));
            }
            for (int c = 0; c < consumers; c++) {
                futures.add(exec.submit(() -> {
                    start.await();
                    final int[] last = new int[producers];
                    java.util.Arrays.fill(last, -1);
                    while (consumed.get() < producers * perProducer) {
                        final Long v = q.poll();
                        if (v == null) {
                            Thread.onSpinWait();
                            continue;
                        }
                        final int producer = (int) (v >>> 32);
                        final int seq = (int) (long) v;
                        if (seq <= last[producer]) {
                            throw new AssertionError("producer " + producer + ": " + seq + " after " + last[producer]);
                        }
                        last[producer] = seq;
                        synchronized (seen) {
                            seen[producer][seq]++;
                        }
                        consumed.incrementAndGet();
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : futures) {
                f.get(50, TimeUnit.SECONDS);
            }
        } finally {
            exec.shutdownNow();
            assertThat(exec.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        for (int p = 0; p < producers; p++) {
            assertThat(seen[p]).as("producer %d: each element exactly once", p).containsOnly(1);
        }
        assertThat(q.poll()).isNull();
    }
}
