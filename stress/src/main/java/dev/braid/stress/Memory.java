package dev.braid.stress;

import dev.braid.buffer.BufferPool;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Memory figures the scenarios judge: heap after a full GC, the JVM's direct memory (the "direct"
 * {@link BufferPoolMXBean}), and braid's pools ({@link BufferPool#allocatedBytes()}: bytes lent out plus
 * bytes kept free for reuse; the pool does not count lent-out bytes separately, so this is the upper figure,
 * and {@link BufferPool#outstanding()}: buffers lent out).
 */
final class Memory {
    private Memory() {
    }

    private static final BufferPoolMXBean DIRECT = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
            .stream().filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();

    /** Bytes of direct memory the JVM has allocated (every {@code allocateDirect}, braid's pools included). */
    static long direct() {
        return DIRECT.getMemoryUsed();
    }

    /** Heap in use right after a full collection ({@code System.gc()}; slow, call between phases only). */
    static long heapAfterGc() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    static String mib(final long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    /**
     * Samples direct memory and the pools' allocated bytes every {@code periodMillis} on a daemon thread and
     * keeps the peaks. Peaks may be read from any thread; {@link #stop} takes a last sample.
     */
    static final class PeakSampler {
        private final List<BufferPool> pools;
        /** [0] = direct, [1 + i] = pools.get(i).allocatedBytes(). */
        private final AtomicLongArray peaks;
        private final Thread thread;
        private volatile boolean stop;

        PeakSampler(final long periodMillis, final List<BufferPool> pools) {
            this.pools = pools;
            this.peaks = new AtomicLongArray(1 + pools.size());
            sample();
            thread = Thread.ofPlatform().daemon().name("stress-memory-sampler").start(() -> {
                while (!stop) {
                    sample();
                    try {
                        Thread.sleep(periodMillis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        private void sample() {
            peaks.accumulateAndGet(0, direct(), Math::max);
            for (int i = 0; i < pools.size(); i++) {
                peaks.accumulateAndGet(1 + i, pools.get(i).allocatedBytes(), Math::max);
            }
        }

        long peakDirect() {
            return peaks.get(0);
        }

        /** Peak {@link BufferPool#allocatedBytes()} of the i-th pool given to the constructor. */
        long peakPool(final int i) {
            return peaks.get(1 + i);
        }

        /** Stops sampling (idempotent) after a last sample. */
        void stop() {
            stop = true;
            thread.interrupt();
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            sample();
        }
    }
}
