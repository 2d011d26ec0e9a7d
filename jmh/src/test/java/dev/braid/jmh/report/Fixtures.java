package dev.braid.jmh.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Predicate;

/** The JSON fixtures under src/test/resources/dev/braid/jmh/report. */
final class Fixtures {
    /** Hand-made: every benchmark of the full suite (loom's CallBenchmark.pipelined left out on purpose). */
    static final String FULL_SUITE = "full-suite.json";
    /** Real JMH 1.37 output of CodecBenchmark and BufferPoolBenchmark with -prof gc (1 fork, 2×1 s). */
    static final String CODEC_POOL_REAL = "codec-pool-real.json";
    static final String CHECK_REAL = "check-real.json";
    /** Passing checks over {@link #FULL_SUITE}, one of each kind. */
    static final String BASELINES_SUITE = "baselines-suite.json";

    private Fixtures() {
    }

    static Path path(final String name) {
        try {
            return Path.of(Fixtures.class.getResource(name).toURI());
        } catch (final URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JmhResults results(final String name) {
        try {
            return JmhResults.read(List.of(path(name)));
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The full suite without the results {@code drop} accepts. */
    static JmhResults fullSuiteWithout(final Predicate<JmhResult> drop) {
        return new JmhResults(results(FULL_SUITE).all().stream().filter(drop.negate()).toList());
    }
}
