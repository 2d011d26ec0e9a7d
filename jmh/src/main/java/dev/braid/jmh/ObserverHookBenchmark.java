package dev.braid.jmh;

import dev.braid.BraidObserver;
import dev.braid.Procedure;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * What one call costs an observer, alone on one thread: the start and end hooks of one side of a call as
 * the engine calls them (two clock reads, {@code callStarted}, {@code callEnded} with the same arguments),
 * for each {@link Observers}. Steadier than the end-to-end comparison on a shared machine; multiply by two
 * (both sides of a call) and compare with a call's CPU cost ({@code ObserverOverheadProbe}'s calls per
 * CPU-second) to estimate the end-to-end overhead.
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class ObserverHookBenchmark {
    @Param({"NONE", "COUNTING", "MICROMETER", "MICROMETER_FULL"})
    Observers observer;

    private BraidObserver o;
    private final Procedure procedure = Procedure.of(0x6A6D6862, 1, 1);
    private int serial;

    @Setup
    public void setUp() {
        o = observer.create();
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long oneSideOfACall() {
        final BraidObserver obs = o;
        if (obs == null) {
            return serial++;
        }
        final long start = System.nanoTime();
        obs.callStarted(null, BraidObserver.Side.CLIENT, procedure, serial);
        final long latency = System.nanoTime() - start;
        obs.callEnded(null, BraidObserver.Side.CLIENT, procedure, serial++, BraidObserver.CallOutcome.OK, latency,
                92, 92);
        return latency;
    }
}
