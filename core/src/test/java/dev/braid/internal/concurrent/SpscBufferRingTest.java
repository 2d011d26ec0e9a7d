package dev.braid.internal.concurrent;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link SpscBufferRing} alone: capacity, order, full and empty, and one producer against one consumer. */
class SpscBufferRingTest {
    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);

    @Test
    void holdsCapacityBuffersInOrder() {
        final SpscBufferRing ring = new SpscBufferRing(8);
        final PooledBuffer[] b = new PooledBuffer[8];
        for (int i = 0; i < 8; i++) {
            b[i] = pool.acquire(64);
            assertThat(ring.offer(b[i])).isTrue();
        }
        final PooledBuffer extra = pool.acquire(64);
        assertThat(ring.isFullVolatile()).isTrue();
        assertThat(ring.offer(extra)).as("full").isFalse();
        extra.release();
        assertThat(ring.peek()).isSameAs(b[0]);
        for (int i = 0; i < 8; i++) {
            final PooledBuffer p = ring.poll();
            assertThat(p).isSameAs(b[i]);
            p.release();
        }
        assertThat(ring.poll()).isNull();
        assertThat(ring.isEmpty()).isTrue();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** A pair takes two slots or none, and comes out in order, right after what was offered before it. */
    @Test
    void aPairTakesTwoSlotsOrNone() {
        final SpscBufferRing ring = new SpscBufferRing(4);
        final PooledBuffer a = pool.acquire(64);
        final PooledBuffer b = pool.acquire(64);
        final PooledBuffer c = pool.acquire(64);
        final PooledBuffer d = pool.acquire(64);
        final PooledBuffer e = pool.acquire(64);
        assertThat(ring.offer(a)).isTrue();
        assertThat(ring.offerPair(b, c)).isTrue();
        assertThat(ring.offerPair(d, e)).as("one slot left: not enough for a pair").isFalse();
        assertThat(ring.size()).isEqualTo(3);
        assertThat(ring.poll()).isSameAs(a);
        assertThat(ring.offerPair(d, e)).isTrue();
        assertThat(ring.isFullVolatile()).isTrue();
        for (PooledBuffer x : new PooledBuffer[]{b, c, d, e}) {
            final PooledBuffer got = ring.poll();
            assertThat(got).isSameAs(x);
        }
        assertThat(ring.poll()).isNull();
        for (PooledBuffer x : new PooledBuffer[]{a, b, c, d, e}) {
            x.release();
        }
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** A producer and a consumer thread: every buffer arrives once, in order, with its contents. */
    @Test
    void oneProducerOneConsumerKeepOrderAndContents() throws Exception {
        final SpscBufferRing ring = new SpscBufferRing(8);
        final int n = 50_000;
        final CompletableFuture<Void> producer = CompletableFuture.runAsync(() -> {
            for (int i = 0; i < n; i++) {
                final PooledBuffer b = pool.acquire(64);
                b.byteBuffer().putInt(0, i);
                while (!ring.offer(b)) {
                    Thread.yield(); // not a spin: on a loaded 2-CPU machine the consumer needs the CPU
                }
            }
        });
        int next = 0;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
        while (next < n && System.nanoTime() < deadline) {
            final PooledBuffer b = ring.poll();
            if (b == null) {
                Thread.yield();
                continue;
            }
            assertThat(b.byteBuffer().getInt(0)).isEqualTo(next);
            b.release();
            next++;
        }
        producer.get(150, TimeUnit.SECONDS);
        assertThat(next).isEqualTo(n);
        LeakChecks.assertNoOutstandingBuffers(pool);
    }
}
