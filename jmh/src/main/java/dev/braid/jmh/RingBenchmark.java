package dev.braid.jmh;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.SpscBufferRing;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The per-stream send ring ({@link SpscBufferRing}) between two threads: one offers, one polls, as an
 * application thread and the connection's writer do. A failed offer (ring full) or poll (ring empty) is an
 * operation too, as JCTools' queue benchmarks count them; read {@code offer} and {@code poll} throughput
 * together. The buffers circulate (the poller hands each back through a second ring), so nothing is
 * allocated or pooled per operation.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Group)
public class RingBenchmark {
    private static final int CAPACITY = 64;
    private BufferPool pool;
    private SpscBufferRing ring;
    /** Buffers on their way back from the poller to the offerer. */
    private SpscBufferRing back;

    @Setup(Level.Trial)
    public void setUp() {
        pool = new BufferPool();
        ring = new SpscBufferRing(CAPACITY);
        back = new SpscBufferRing(2 * CAPACITY);
        for (int i = 0; i < CAPACITY; i++) {
            back.offer(pool.acquire(512));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        PooledBuffer b;
        while ((b = ring.poll()) != null) {
            b.release();
        }
        while ((b = back.poll()) != null) {
            b.release();
        }
        if (pool.outstanding() != 0) {
            throw new IllegalStateException("ring benchmark lost " + pool.outstanding() + " buffers");
        }
    }

    @Benchmark
    @Group("ring")
    @GroupThreads(1)
    public boolean offer() {
        final PooledBuffer b = back.peek();
        if (b == null || !ring.offer(b)) {
            return false;
        }
        back.poll();
        return true;
    }

    @Benchmark
    @Group("ring")
    @GroupThreads(1)
    public boolean poll() {
        final PooledBuffer b = ring.poll();
        return b != null && back.offer(b);
    }
}
