package dev.braid.jmh;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/** Acquire and release of a pooled buffer, from one thread and from two at once (contention on the free list). */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class BufferPoolBenchmark {
    private final BufferPool pool = new BufferPool();

    @Benchmark
    @Threads(1)
    public int acquireRelease1Thread() {
        final PooledBuffer b = pool.acquire(256);
        final int c = b.capacity();
        b.release();
        return c;
    }

    @Benchmark
    @Threads(2)
    public int acquireRelease2Threads() {
        final PooledBuffer b = pool.acquire(256);
        final int c = b.capacity();
        b.release();
        return c;
    }
}
