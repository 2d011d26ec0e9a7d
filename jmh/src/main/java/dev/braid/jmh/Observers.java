package dev.braid.jmh;

import dev.braid.BraidObserver;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.micrometer.BraidMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.concurrent.atomic.LongAdder;

/**
 * The observers the benchmarks compare: none (braid's default), a counting one (the least an observer can
 * do: what the hooks themselves cost) and the Micrometer binding on a {@code SimpleMeterRegistry}, in its
 * default form and with full timers.
 */
public enum Observers {
    /** No observer: the hooks are null checks. */
    NONE {
        @Override
        BraidObserver create() {
            return null;
        }
    },
    /** Counts calls and adds up their latency: the hooks' own cost. */
    COUNTING {
        @Override
        BraidObserver create() {
            return new Counting();
        }
    },
    /** {@link BraidMetrics} on a {@link SimpleMeterRegistry} (its default: function timers over adders). */
    MICROMETER {
        @Override
        BraidObserver create() {
            return new BraidMetrics(new SimpleMeterRegistry());
        }
    },
    /** {@link BraidMetrics} with full Micrometer timers (a maximum; histograms if a filter asks). */
    MICROMETER_FULL {
        @Override
        BraidObserver create() {
            return new BraidMetrics(new SimpleMeterRegistry(), Object::toString, true);
        }
    };

    abstract BraidObserver create();

    /** Counts calls and their latency; allocation-free. */
    static final class Counting implements BraidObserver {
        final LongAdder calls = new LongAdder();
        final LongAdder nanos = new LongAdder();

        @Override
        public void callEnded(final Peer connection, final Side side, final Procedure procedure, final int serial,
                              final CallOutcome outcome, final long latencyNanos, final long requestBytes,
                              final long replyBytes) {
            calls.increment();
            nanos.add(latencyNanos);
        }
    }
}
