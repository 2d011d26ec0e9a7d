package dev.braid.buffer;

import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BufferPoolTest {

    /** Issue 11 §1.2: a pool's budget bounds its direct memory; retained buffers are dropped before a refusal. */
    @Test
    void theBudgetDropsRetainedBuffersThenRefusesNamingTheLimit() {
        final int mib = 1 << 20;
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, false, BufferPool.DIRECT,
                2L * mib);
        final PooledBuffer a = pool.acquire(mib);
        pool.acquire(100).release(); // retained: 512 bytes free
        assertThat(pool.allocatedBytes()).isEqualTo(mib + 512);
        final PooledBuffer b = pool.acquire(mib); // fits once the retained 512 bytes are dropped
        assertThat(pool.allocatedBytes()).isEqualTo(2L * mib);
        assertThatThrownBy(() -> pool.acquire(100))
                .isInstanceOfSatisfying(dev.braid.LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxPooledBytes");
                    assertThat(e.value()).isEqualTo(2L * mib);
                });
        assertThat(pool.allocatedBytes()).as("a refusal counts nothing").isEqualTo(2L * mib);
        a.release();
        b.release();
        assertThat(pool.trim(0)).as("trim drops every free buffer").isEqualTo(2L * mib);
        assertThat(pool.allocatedBytes()).isZero();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** Issue 11 §1.6: after a flood, an idle pool drops what it retains beyond its idle size; a growing one keeps it. */
    @Test
    void trimIfIdleDropsRetainedBuffersOnlyOnceThePoolStopsGrowing() {
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, false);
        final List<PooledBuffer> flood = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            flood.add(pool.acquire(131_072)); // 12.5 MiB of the 128 KiB class
        }
        flood.forEach(PooledBuffer::release);
        assertThat(pool.allocatedBytes()).as("all retained (16 MiB per class)").isEqualTo(100 * 131_072L);
        assertThat(pool.trimIfIdle(BufferPool.IDLE_RETAINED_BYTES_PER_CLASS)).as("it grew since the last check").isZero();
        pool.acquire(131_072).release(); // reused: no allocation
        final long dropped = pool.trimIfIdle(BufferPool.IDLE_RETAINED_BYTES_PER_CLASS);
        assertThat(dropped).isEqualTo(92 * 131_072L);
        assertThat(pool.allocatedBytes()).as("back to the idle size: 1 MiB in this class").isEqualTo(1 << 20);
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    /** A failing allocator (out of memory) counts nothing and leaves the pool usable. */
    @Test
    void aFailedAllocationCountsNothing() {
        final boolean[] fail = {true};
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, false, c -> {
            if (fail[0]) {
                throw new OutOfMemoryError("injected");
            }
            return ByteBuffer.allocateDirect(c);
        });
        assertThatThrownBy(() -> pool.acquire(1000)).isInstanceOf(OutOfMemoryError.class);
        assertThat(pool.allocatedBytes()).isZero();
        assertThat(pool.outstanding()).isZero();
        fail[0] = false;
        pool.acquire(1000).release();
        assertThat(pool.allocatedBytes()).isEqualTo(2048);
    }

    /** Wrapped caller memory: lent at once, counted, its callback run exactly once by the one release. */
    @Test
    void wrappedMemoryIsCountedAndItsCallbackRunsOnRelease() {
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final java.nio.ByteBuffer mine = java.nio.ByteBuffer.allocateDirect(100).position(10).limit(50);
        final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        final PooledBuffer b = pool.wrap(mine, calls::incrementAndGet);
        org.assertj.core.api.Assertions.assertThat(b.byteBuffer()).isSameAs(mine);
        org.assertj.core.api.Assertions.assertThat(b.isInUse()).isTrue();
        org.assertj.core.api.Assertions.assertThat(pool.outstanding()).isEqualTo(1);
        b.release();
        org.assertj.core.api.Assertions.assertThat(calls.get()).isEqualTo(1);
        org.assertj.core.api.Assertions.assertThat(pool.outstanding()).isZero();
        org.assertj.core.api.Assertions.assertThatThrownBy(b::release).isInstanceOf(IllegalStateException.class);
        org.assertj.core.api.Assertions.assertThat(calls.get()).isEqualTo(1);
        org.assertj.core.api.Assertions.assertThat(mine.position()).isEqualTo(10); // the caller's position is untouched
        final PooledBuffer failing = pool.wrap(mine, () -> {
            throw new IllegalStateException("the caller's bug");
        });
        failing.release(); // logged, not thrown: the releasing thread (a writer) must go on
        org.assertj.core.api.Assertions.assertThat(pool.outstanding()).isZero();
    }

    @Test
    void acquireRoundsUpToTheSizeClasses() {
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final int[][] cases = {
                {0, 512}, {1, 512}, {512, 512}, {513, 2_048}, {2_048, 2_048}, {2_049, 8_192}, {8_192, 8_192},
                {8_193, 32_768}, {32_768, 32_768}, {32_769, 131_072}, {131_072, 131_072}, {131_073, 270_336},
                {262_120 + 28, 270_336}, {270_336, 270_336}, {270_337, 1_048_576}, {1_048_576, 1_048_576},
                {1_048_577, 4_194_304}, {4_194_304, 4_194_304}};
        for (int[] c : cases) {
            final PooledBuffer b = pool.acquire(c[0]);
            final ByteBuffer bb = b.byteBuffer();
            assertThat(b.capacity()).as("capacity for %d", c[0]).isEqualTo(c[1]);
            assertThat(bb.position()).isZero();
            assertThat(bb.limit()).isEqualTo(c[1]);
            assertThat(bb.isDirect()).isTrue();
            assertThat(bb.order()).isEqualTo(ByteOrder.BIG_ENDIAN);
            assertThat(b.isInUse()).isTrue();
            assertThat(b.pool()).isSameAs(pool);
            assertThat(pool.outstanding()).isEqualTo(1);
            b.release();
            assertThat(b.isInUse()).isFalse();
        }
        assertThat(BufferPool.largestClassSize()).isEqualTo(4_194_304);
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @Test
    void releasedBuffersAreReusedWithPositionAndLimitReset() {
        final BufferPool pool = new BufferPool();
        final PooledBuffer a = pool.acquire(100);
        a.byteBuffer().position(17).limit(50);
        final long allocatedBytes = pool.allocatedBytes();
        a.release();
        final PooledBuffer b = pool.acquire(300);
        assertThat(b).isSameAs(a);
        assertThat(b.byteBuffer().position()).isZero();
        assertThat(b.byteBuffer().limit()).isEqualTo(b.capacity());
        assertThat(pool.allocations()).isEqualTo(1);
        assertThat(pool.allocatedBytes()).isEqualTo(allocatedBytes).isEqualTo(512);
        b.release();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @Test
    void doubleReleaseThrowsAndIsNotCountedTwice() {
        final BufferPool pool = new BufferPool();
        final PooledBuffer b = pool.acquire(10);
        b.release();
        assertThatThrownBy(b::release).isInstanceOf(IllegalStateException.class).hasMessageContaining("released twice");
        assertThat(pool.outstanding()).isZero();
        // the buffer went back to the free list once: two acquires get two different buffers
        final PooledBuffer x = pool.acquire(10);
        final PooledBuffer y = pool.acquire(10);
        assertThat(x).isNotSameAs(y);
        x.release();
        y.release();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @Test
    void negativeCapacityIsRejected() {
        final BufferPool pool = new BufferPool();
        assertThatThrownBy(() -> pool.acquire(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(pool.outstanding()).isZero();
        assertThat(pool.allocations()).isZero();
        assertThatThrownBy(() -> new BufferPool(-1, false)).isInstanceOf(IllegalArgumentException.class);
    }

    /** Rounding such a request up to 4 KiB overflowed: the pool counted -2 GiB allocated, then failed. */
    @Test
    void aRequestTooLargeToRoundFailsWithoutCorruptingTheCounts() {
        final BufferPool pool = new BufferPool();
        for (int request : new int[]{Integer.MAX_VALUE - 100, Integer.MAX_VALUE, (Integer.MAX_VALUE & ~4095) + 1}) {
            assertThatThrownBy(() -> pool.acquire(request)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("exceeds the largest buffer");
        }
        assertThat(pool.allocatedBytes()).isZero();
        assertThat(pool.allocations()).isZero();
        assertThat(pool.outstanding()).isZero();
    }

    @Test
    void buffersBeyondTheLargestClassAreCountedAndNotRetained() {
        final BufferPool pool = new BufferPool();
        final int request = BufferPool.largestClassSize() + 1;
        final PooledBuffer b = pool.acquire(request);
        assertThat(b.capacity()).as("rounded up to 4 KiB").isEqualTo(BufferPool.largestClassSize() + 4096);
        assertThat(pool.outstanding()).isEqualTo(1);
        assertThat(pool.allocations()).isEqualTo(1);
        assertThat(pool.allocatedBytes()).isEqualTo(b.capacity());
        b.byteBuffer().put(request - 1, (byte) 7); // usable to the last requested byte
        b.release();
        assertThat(pool.outstanding()).isZero();
        assertThat(pool.allocatedBytes()).as("dropped on release").isZero();
        final PooledBuffer c = pool.acquire(request);
        assertThat(c).isNotSameAs(b);
        assertThat(pool.allocations()).isEqualTo(2);
        assertThatThrownBy(b::release).isInstanceOf(IllegalStateException.class);
        c.release();
        assertThat(pool.allocatedBytes()).isZero();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }

    @Test
    void retainsAtMostWhatItWasToldPerClass() {
        final BufferPool pool = new BufferPool(0, false); // keeps the minimum: 2 per class
        final List<PooledBuffer> held = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            held.add(pool.acquire(512));
        }
        assertThat(pool.allocatedBytes()).isEqualTo(5 * 512);
        held.forEach(PooledBuffer::release);
        assertThat(pool.allocatedBytes()).as("3 dropped, 2 kept").isEqualTo(2 * 512);
        assertThat(pool.outstanding()).isZero();
    }

    @Test
    void leakTrackingSaysWhereOutstandingBuffersWereAcquired() {
        final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final PooledBuffer a = pool.acquire(1);
        final PooledBuffer b = pool.acquire(5000);
        assertThat(pool.describeLeaks()).hasSize(2)
                .anySatisfy(t -> assertThat(t.getMessage()).contains("capacity 512"))
                .anySatisfy(t -> assertThat(t.getMessage()).contains("capacity 8192"));
        a.release();
        b.release();
        assertThat(pool.describeLeaks()).isEmpty();
        assertThat(new BufferPool(0, false).describeLeaks()).singleElement()
                .satisfies(t -> assertThat(t.getMessage()).contains("leak tracking is off"));
    }

    /**
     * Many threads acquire and release at once, a quarter of the buffers released by another thread than
     * the one that acquired them. Each owner stamps its buffer and checks the stamp before release, so a
     * buffer lent to two owners at once would show. The count ends at exactly zero.
     */
    @Test
    @Timeout(60)
    void outstandingIsExactAcrossThreads() throws Exception {
        final BufferPool pool = new BufferPool(1 << 20, false);
        final int threads = 8;
        final int iterations = 20_000;
        final BlockingQueue<PooledBuffer> handoff = new ArrayBlockingQueue<>(1024);
        final CountDownLatch start = new CountDownLatch(1);
        final ExecutorService exec = Executors.newFixedThreadPool(threads);
        try {
            final List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                final int id = t;
                futures.add(exec.submit(() -> {
                    start.await();
                    final SplittableRandom r = new SplittableRandom(id);
                    for (int i = 0; i < iterations; i++) {
                        final int size = r.nextInt(100) == 0 && i % 2000 == 0
                                ? BufferPool.largestClassSize() + r.nextInt(1, 10_000) // a one-off now and then
                                : r.nextInt(0, 140_000);
                        final PooledBuffer b = pool.acquire(size);
                        final ByteBuffer bb = b.byteBuffer();
                        final long stamp = ((long) id << 32) | i;
                        bb.putLong(0, stamp);
                        if (bb.capacity() >= 16) {
                            bb.putLong(bb.capacity() - 8, stamp);
                        }
                        Thread.onSpinWait();
                        if (bb.getLong(0) != stamp || bb.getLong(bb.capacity() - 8) != stamp) {
                            throw new AssertionError("buffer lent to two owners at once");
                        }
                        if (i % 4 == 0 && handoff.offer(b)) {
                            continue; // someone else releases it
                        }
                        b.release();
                        final PooledBuffer other = handoff.poll();
                        if (other != null) {
                            other.release();
                        }
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
        for (PooledBuffer b; (b = handoff.poll()) != null; ) {
            b.release();
        }
        assertThat(pool.outstanding()).isZero();
        assertThat(pool.allocatedBytes()).isNotNegative();
        LeakChecks.assertNoOutstandingBuffers(pool);
    }
}
