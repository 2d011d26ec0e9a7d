package dev.braid.jmh.report;

import dev.braid.jmh.report.RegressionCheck.Outcome;
import dev.braid.jmh.report.RegressionCheck.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RegressionCheckTest {
    private static final JmhResults SUITE = Fixtures.results(Fixtures.FULL_SUITE);

    /** One check as baselines JSON: the given fields go inside the check object. */
    private static Baselines one(final String fields) throws IOException {
        return Baselines.parse("{\"checks\": [{\"id\": \"t\", " + fields + "}]}", "test");
    }

    private static Outcome outcome(final String fields) throws IOException {
        return RegressionCheck.evaluate(one(fields), SUITE).get(0);
    }

    /** nio round trip allocates 96 B/op in the fixture. */
    private static String nioAlloc(final String baseline, final String better, final String tolerance) {
        return "\"benchmark\": \"dev.braid.jmh.CallBenchmark.roundTrip\", \"params\": {\"backend\": \"nio\"},"
                + " \"metric\": \"gc.alloc.rate.norm\", \"baseline\": " + baseline + ", \"better\": \"" + better + "\","
                + " \"tolerance\": " + tolerance;
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(final String... args) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final int exit = RegressionCheck.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void everyKindOfCheckPassesOnTheFixture() {
        final Run r = run("--baselines", Fixtures.path(Fixtures.BASELINES_SUITE).toString(),
                Fixtures.path(Fixtures.FULL_SUITE).toString());
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("RegressionCheck: OK, 6 of 6 checks passed");
        assertThat(r.out()).containsPattern("call-nio-p50-vs-raw +CallBenchmark.roundTrip +backend=nio +"
                + "p50 / RawCallBenchmark.roundTrip p50 +lower +1.5 +2 +×2 +3 +OK");
        assertThat(r.out()).containsPattern("fairness-nio-loaded-p99-vs-idle .* loadedCall:p99 / "
                + "FairnessBenchmark.idle \\{backend=nio\\} p99 +lower +8 +10 +×2 +16 +OK");
        assertThat(r.out()).containsPattern("call-nio-pipelined-vs-grpc .* higher +3 +2 +×2 +1.5 +OK");
    }

    @Test
    void committedBaselinesPassOnARealCheckRun() {
        // surefire runs in jmh/, where baselines.json lives; check-real.json is the scripts/bench-check run the
        // baselines were rewritten from (raw data stripped). A check added to baselines.json without a run that
        // measures it fails here as MISSING, which is the point: rewrite the baselines and this fixture together.
        final Run r = run("--baselines", "baselines.json", Fixtures.path(Fixtures.CHECK_REAL).toString());
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("codec-encode-call-64-alloc", "pool-2-threads-alloc", "call-nio-p50-vs-raw",
                "stream-epoll-download-vs-raw", "tls-call-nio-alloc-vs-jdk", "tls-stream-epoll-download-vs-jdk",
                "RegressionCheck: OK, 28 of 28 checks passed");
    }

    @Test
    void aValueExactlyAtTheLimitPassesAndJustBeyondFails() throws IOException {
        assertThat(outcome(nioAlloc("88", "lower", "{\"absolute\": 8}")).status()).isEqualTo(Status.OK);
        final Outcome over = outcome(nioAlloc("87.9", "lower", "{\"absolute\": 8}"));
        assertThat(over.status()).isEqualTo(Status.FAIL);
        assertThat(over.measured()).isEqualTo(96);
        assertThat(over.note()).isEqualTo("above the limit 95.9 (baseline 87.9, 8 abs, lower is better)");
        // higher is better: 96 against 192 ÷ 2
        assertThat(outcome(nioAlloc("192", "higher", "{\"factor\": 2}")).status()).isEqualTo(Status.OK);
        assertThat(outcome(nioAlloc("192.5", "higher", "{\"factor\": 2}")).status()).isEqualTo(Status.FAIL);
    }

    @Test
    void theMostGenerousToleranceWins() throws IOException {
        // relative alone gives nothing around a zero baseline; the absolute bound does
        assertThat(outcome(nioAlloc("0", "lower", "{\"relative\": 0.5}")).status()).isEqualTo(Status.FAIL);
        assertThat(outcome(nioAlloc("0", "lower", "{\"relative\": 0.5, \"absolute\": 96}")).status())
                .isEqualTo(Status.OK);
        // 80 + 10% = 88 (fails alone), 80 + 20 abs = 100 (passes)
        assertThat(outcome(nioAlloc("80", "lower", "{\"relative\": 0.1}")).status()).isEqualTo(Status.FAIL);
        final Outcome both = outcome(nioAlloc("80", "lower", "{\"relative\": 0.1, \"absolute\": 20}"));
        assertThat(both.status()).isEqualTo(Status.OK);
        assertThat(both.limit()).isEqualTo(100);
        // no tolerance at all: exactly the baseline
        assertThat(outcome(nioAlloc("96", "lower", "{}")).status()).isEqualTo(Status.OK);
        assertThat(new Baselines.Tolerance(Double.NaN, Double.NaN, Double.NaN).text()).isEqualTo("exact");
        assertThat(new Baselines.Tolerance(8, 0.1, 2).limit(10, Baselines.Better.LOWER)).isEqualTo(20);
        assertThat(new Baselines.Tolerance(8, 0.1, 2).limit(10, Baselines.Better.HIGHER)).isEqualTo(2);
    }

    @Test
    void aRatioToTheRawBaselineFailsWhenBraidSlowsDown() throws IOException {
        // measured p50 ratio is 40 / 20 = 2.0; a baseline of 0.9 with factor 2 allows 1.8
        final Outcome o = outcome("\"benchmark\": \"dev.braid.jmh.CallBenchmark.roundTrip\", \"params\": {\"backend\": \"nio\"},"
                + " \"metric\": \"p50\", \"reference\": {\"benchmark\": \"dev.braid.jmh.RawCallBenchmark.roundTrip\"},"
                + " \"baseline\": 0.9, \"better\": \"lower\", \"tolerance\": {\"factor\": 2}");
        assertThat(o.status()).isEqualTo(Status.FAIL);
        assertThat(o.measured()).isEqualTo(2.0);
        assertThat(o.limit()).isEqualTo(1.8);
    }

    @Test
    void aMissingBenchmarkFailsTheRunAndIsNamed(@TempDir final Path dir) throws IOException {
        final Path baselines = dir.resolve("baselines.json");
        Files.writeString(baselines, "{\"checks\": ["
                + "{\"id\": \"loom-pipelined-alloc\", \"benchmark\": \"dev.braid.jmh.CallBenchmark.pipelined\","
                + " \"params\": {\"backend\": \"loom\"}, \"metric\": \"gc.alloc.rate.norm\", \"baseline\": 48,"
                + " \"better\": \"lower\", \"tolerance\": {\"absolute\": 8}},"
                + "{\"id\": \"nio-alloc\", " + nioAlloc("96", "lower", "{\"absolute\": 8}") + "}]}");
        final Run r = run("--baselines", baselines.toString(), Fixtures.path(Fixtures.FULL_SUITE).toString());
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.out()).containsPattern("loom-pipelined-alloc .* 48 +— +8 abs +56 +MISSING");
        assertThat(r.out()).contains("MISSING loom-pipelined-alloc: missing from the results: "
                + "dev.braid.jmh.CallBenchmark.pipelined {backend=loom}");
        assertThat(r.out()).contains("RegressionCheck: FAIL, 1 missing from the results (loom-pipelined-alloc), of 2 checks");
    }

    @Test
    void aMissingReferenceIsNamedToo() throws IOException {
        final Baselines b = one("\"benchmark\": \"dev.braid.jmh.CallBenchmark.roundTrip\", \"params\": {\"backend\": \"nio\"},"
                + " \"metric\": \"p50\", \"reference\": {\"benchmark\": \"dev.braid.jmh.RawCallBenchmark.roundTrip\"},"
                + " \"baseline\": 2, \"better\": \"lower\", \"tolerance\": {\"factor\": 2}");
        final JmhResults noRaw = Fixtures.fullSuiteWithout(r -> r.simpleClassName().equals("RawCallBenchmark"));
        final Outcome o = RegressionCheck.evaluate(b, noRaw).get(0);
        assertThat(o.status()).isEqualTo(Status.MISSING);
        assertThat(o.note()).isEqualTo("reference missing from the results: dev.braid.jmh.RawCallBenchmark.roundTrip");
    }

    @Test
    void aCheckThatMatchesSeveralResultsOrLacksItsMetricFails() throws IOException {
        final Outcome ambiguous = outcome("\"benchmark\": \"dev.braid.jmh.CallBenchmark.roundTrip\","
                + " \"metric\": \"p50\", \"baseline\": 40, \"better\": \"lower\", \"tolerance\": {\"factor\": 2}");
        assertThat(ambiguous.status()).isEqualTo(Status.FAIL);
        assertThat(ambiguous.note()).contains("3 results of dev.braid.jmh.CallBenchmark.roundTrip match", "name more params");

        final Outcome noMetric = outcome("\"benchmark\": \"dev.braid.jmh.RawCallBenchmark.roundTrip\","
                + " \"metric\": \"gc.alloc.rate.nope\", \"baseline\": 0, \"better\": \"lower\", \"tolerance\": {\"absolute\": 1}");
        assertThat(noMetric.status()).isEqualTo(Status.FAIL);
        assertThat(noMetric.note()).isEqualTo("no gc.alloc.rate.nope for dev.braid.jmh.RawCallBenchmark.roundTrip"
                + " (run JMH with -prof gc)");
    }

    @Test
    void minStatisticTakesTheBestIterationAndNeedsPerIterationValues() throws IOException {
        final JmhResult encode = Fixtures.results(Fixtures.CODEC_POOL_REAL)
                .first("dev.braid.jmh.CodecBenchmark.encodeCall", java.util.Map.of("payload", "4096")).orElseThrow();
        final List<Double> iterations = encode.secondary(Metrics.ALLOC_NORM).iterations();
        assertThat(iterations).hasSize(2);
        final double min = Math.min(iterations.get(0), iterations.get(1));
        assertThat(Metrics.value(encode, Metrics.ALLOC_NORM, Metrics.Statistic.MIN)).isEqualTo(min);
        assertThat(Metrics.value(encode, Metrics.ALLOC_NORM, Metrics.Statistic.MAX)).isGreaterThan(min);
        assertThat(Metrics.value(encode, Metrics.ALLOC_NORM)).isEqualTo(encode.allocBytesPerOp());

        // a sample-time primary score has a histogram, not per-iteration values
        final Outcome o = outcome("\"benchmark\": \"dev.braid.jmh.RawCallBenchmark.roundTrip\", \"metric\": \"score\","
                + " \"statistic\": \"min\", \"baseline\": 22, \"better\": \"lower\", \"tolerance\": {\"factor\": 2}");
        assertThat(o.status()).isEqualTo(Status.FAIL);
        assertThat(o.note()).isEqualTo("no min score (needs per-iteration values) for dev.braid.jmh.RawCallBenchmark.roundTrip");
        assertThat(o.check().metricText()).isEqualTo("min score");
        assertThatThrownBy(() -> one(nioAlloc("1", "lower", "{}") + ", \"statistic\": \"median\""))
                .hasMessageContaining("\"statistic\" must be \"mean\", \"min\" or \"max\"");
    }

    @Test
    void rewriteSetsBaselinesToTheMeasuredValuesAndKeepsTolerances(@TempDir final Path dir) throws IOException {
        final Path baselines = dir.resolve("baselines.json");
        Files.copy(Fixtures.path(Fixtures.BASELINES_SUITE), baselines);
        final Run r = run("--baselines", baselines.toString(), "--rewrite", Fixtures.path(Fixtures.FULL_SUITE).toString());
        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("call-nio-alloc: 90 -> 96", "call-nio-p50-vs-raw: 1.5 -> 2",
                "stream-nio-upload-vs-raw: 0.6 -> 0.5", "6 baselines written");

        final Baselines rewritten = Baselines.read(baselines);
        final Baselines original = Baselines.read(Fixtures.path(Fixtures.BASELINES_SUITE));
        assertThat(rewritten.checks()).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(rewritten.checks().get(i).tolerance()).isEqualTo(original.checks().get(i).tolerance());
            assertThat(rewritten.checks().get(i).reference()).isEqualTo(original.checks().get(i).reference());
        }
        assertThat(rewritten.checks().stream().map(c -> c.baseline()).toList())
                .containsExactly(0.0001, 96.0, 2.0, 2.0, 0.5, 10.0);
        assertThat(Files.readString(baselines)).contains("\"about\": \"Test fixture");
        // and the rewritten file passes against the same results
        assertThat(run("--baselines", baselines.toString(), Fixtures.path(Fixtures.FULL_SUITE).toString()).exit()).isZero();
    }

    @Test
    void rewriteKeepsWhatItCouldNotMeasureAndSaysSo(@TempDir final Path dir) throws IOException {
        final Path baselines = dir.resolve("baselines.json");
        Files.copy(Fixtures.path(Fixtures.BASELINES_SUITE), baselines);
        final Run r = run("--baselines", baselines.toString(), "--rewrite",
                Fixtures.path(Fixtures.CODEC_POOL_REAL).toString());
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.out()).contains("call-nio-alloc: kept 90 (missing from the results", "5 baseline(s) not measured");
        assertThat(Baselines.read(baselines).checks().get(1).baseline()).isEqualTo(90);
        assertThat(Baselines.read(baselines).checks().get(0).baseline()).isLessThan(8);   // measured in the real run
    }

    @Test
    void jmhArgsSelectTheCheckedBenchmarksAndTheirReferences() {
        final Run r = run("--baselines", Fixtures.path(Fixtures.BASELINES_SUITE).toString(), "--jmh-args");
        assertThat(r.exit()).isZero();
        assertThat(r.out().lines().toList()).containsExactly(
                "^dev\\.braid\\.jmh\\.CodecBenchmark\\.encodeCall$",
                "^dev\\.braid\\.jmh\\.CallBenchmark\\.roundTrip$",
                "^dev\\.braid\\.jmh\\.RawCallBenchmark\\.roundTrip$",
                "^dev\\.braid\\.jmh\\.CallBenchmark\\.pipelined$",
                "^dev\\.braid\\.jmh\\.GrpcCallBenchmark\\.pipelined$",
                "^dev\\.braid\\.jmh\\.StreamBenchmark\\.upload$",
                "^dev\\.braid\\.jmh\\.RawStreamBenchmark\\.upload$",
                "^dev\\.braid\\.jmh\\.FairnessBenchmark\\.loaded$",
                "^dev\\.braid\\.jmh\\.FairnessBenchmark\\.idle$",
                "-p", "backend=nio",
                "-p", "payload=64");
    }

    @Test
    void malformedBaselinesAreRejectedWithTheCheckId() {
        assertThatThrownBy(() -> one(nioAlloc("1", "smaller", "{}")))
                .hasMessageContaining("check 't'").hasMessageContaining("\"better\" must be \"lower\" or \"higher\"");
        assertThatThrownBy(() -> one(nioAlloc("1", "lower", "{\"absolute\": -1}")))
                .hasMessageContaining("tolerance absolute must be 0 or more");
        assertThatThrownBy(() -> one(nioAlloc("1", "lower", "{\"factor\": 0.5}")))
                .hasMessageContaining("factor must be 1 or more");
        assertThatThrownBy(() -> one(nioAlloc("1", "lower", "{\"percent\": 5}")))
                .hasMessageContaining("unknown tolerance \"percent\"");
        assertThatThrownBy(() -> one("\"benchmark\": \"x.Y.z\", \"metric\": \"score\", \"better\": \"lower\", \"tolerance\": {}"))
                .hasMessageContaining("no \"baseline\"");
        assertThatThrownBy(() -> Baselines.parse("{\"checks\": [{\"id\": \"a\", " + nioAlloc("1", "lower", "{}")
                + "}, {\"id\": \"a\", " + nioAlloc("1", "lower", "{}") + "}]}", "test"))
                .hasMessageContaining("check 'a': duplicate id");
        assertThatThrownBy(() -> Baselines.parse("[]", "b.json")).hasMessageContaining("b.json");
        final Run r = run("--baselines", "/nonexistent/baselines.json", "x.json");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("cannot read baselines");
    }

    @Test
    void roundingKeepsThreeSignificantDigits() {
        assertThat(Baselines.rounded(0.34891).toPlainString()).isEqualTo("0.349");
        assertThat(Baselines.rounded(1234.5).toPlainString()).isEqualTo("1230");
        assertThat(Baselines.rounded(0).toPlainString()).isEqualTo("0");
        assertThat(List.of(Baselines.rounded(2.0).toPlainString())).containsExactly("2");
    }
}
