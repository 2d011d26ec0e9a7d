package dev.braid.jmh.report;

import dev.braid.tooling.LatencyChart;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

import static org.assertj.core.api.Assertions.assertThat;

class ReportTest {
    private static final Report.Machine MACHINE = new Report.Machine("Test CPU 9000", "2", "6.1.0-test");

    @BeforeAll
    static void headless() {
        System.setProperty("java.awt.headless", "true");
    }

    private static String markdown(final JmhResults results) {
        return new Report(results, MACHINE, List.of("run.json")).markdown("img/call-latency.png");
    }

    /** The markdown lines between the heading that starts with {@code heading} and the next heading. */
    private static List<String> section(final String md, final String heading) {
        final int start = md.indexOf("## " + heading);
        assertThat(start).as("section " + heading).isNotNegative();
        final int end = md.indexOf("\n## ", start + 3);
        return md.substring(start, end < 0 ? md.length() : end).lines().toList();
    }

    private static List<String> tableRows(final List<String> section) {
        return section.stream().filter(l -> l.startsWith("| ") && !l.startsWith("| system") && !l.startsWith("| benchmark")
                && !l.startsWith("| |")).toList();
    }

    @Test
    void headerNamesTheMachineAndTheJvmFromTheResults() {
        final List<String> machine = section(markdown(Fixtures.results(Fixtures.FULL_SUITE)), "Machine");
        assertThat(machine).contains(
                "| CPU | Test CPU 9000 |",
                "| cores | 2 |",
                "| kernel | 6.1.0-test |",
                "| JDK | 25.0.3 (OpenJDK 64-Bit Server VM 25.0.3+9-LTS) |",
                "| JVM | `/usr/lib/jvm/temurin-25-jdk-amd64/bin/java` |",
                "| JVM args | `-Xmx1g -XX:+UseG1GC` |",
                "| JMH | 1.37, 1 fork(s), warm-up 2×1 s, measurement 3×2 s |");
    }

    @Test
    void callsTableHasPercentilesRatesAllocationAndRatiosWithDashesForMissingFigures() {
        final List<String> rows = tableRows(section(markdown(Fixtures.results(Fixtures.FULL_SUITE)), "Calls"));
        assertThat(rows).containsExactly(
                "| braid nio | 40.0 | 60.0 | 100 | 400 | 200,000 | 96.0 | 48.0 | 2.00 | 2.00 |",
                "| braid epoll | 30.0 | 50.0 | 90.0 | 300 | 250,000 | 64.0 | 48.0 | 1.50 | 2.50 |",
                // loom has no pipelined result in the fixture: its rate, allocation and ratio are dashes
                "| braid loom | 50.0 | 70.0 | 120 | 500 | — | 160 | — | 2.50 | — |",
                "| gRPC | 80.0 | 120 | 300 | 900 | 100,000 | 2,600 | 1,800 | 4.00 | 1.00 |",
                "| raw socket | 20.0 | 25.0 | 40.0 | 100 | 400,000 | 0.500 | 0.250 | 1.00 | 4.00 |");
    }

    @Test
    void streamsTableConvertsOpsToMegabytesAndDividesByRaw() {
        final List<String> rows = tableRows(section(markdown(Fixtures.results(Fixtures.FULL_SUITE)), "Streams"));
        // 4000 ops/s × 262,144 B = 1,048.6 MB/s; raw upload 8000 ops/s
        assertThat(rows).containsExactly(
                "| braid nio | 1,049 | 1,573 | 0.50 | 1.00 | 200 | 300 |",
                "| braid epoll | 1,311 | 1,573 | 0.63 | 1.00 | 200 | 300 |",
                "| braid loom | 786 | 786 | 0.38 | 0.50 | 200 | 300 |",
                "| gRPC | 524 | 786 | 0.25 | 0.50 | 400,000 | 350,000 |",
                "| raw socket | 2,097 | 1,573 | 1.00 | 1.00 | ≈ 0 | ≈ 0 |");
    }

    @Test
    void fairnessTableReadsGroupsAndAddsUpStreamThreads() {
        final List<String> rows = tableRows(section(markdown(Fixtures.results(Fixtures.FULL_SUITE)), "Fairness"));
        // nio loaded: 2 × 256 KiB / 1000 µs + 2 × 256 KiB / 500 µs = 524.3 + 1048.6 = 1572.9 MB/s;
        // one stream: (1048.6 + 1572.9) / 2 = 1310.7 MB/s, so 1.20
        assertThat(rows).containsExactly(
                "| braid nio | 40.0 | 100 | 200 | 1,000 | 10.00 | 1,573 | 1.20 |",
                "| braid epoll | 30.0 | 80.0 | 150 | 800 | 10.00 | 1,573 | 1.09 |",
                "| braid loom | 50.0 | 120 | 300 | 1,500 | 12.50 | 1,573 | 2.00 |",
                "| gRPC | 80.0 | 300 | 2,000 | 20,000 | 66.67 | 393 | 0.60 |");
        assertThat(markdown(Fixtures.results(Fixtures.FULL_SUITE)))
                .contains("![Call latency percentiles, idle and beside streams](img/call-latency.png)");
    }

    @Test
    void microTableShowsNanosecondsAndBytesPerOp() {
        final List<String> rows = tableRows(section(markdown(Fixtures.results(Fixtures.FULL_SUITE)), "Codec"));
        assertThat(rows).containsExactly(
                "| `CodecBenchmark.encodeCall` | payload=64 | 22.5 | 1.13 | ≈ 0 |",
                "| `CodecBenchmark.encodeCall` | payload=4096 | 152 | 7.60 | ≈ 0 |",
                "| `CodecBenchmark.decodeCall` | payload=64 | 67.0 | 3.35 | ≈ 0 |",
                "| `CodecBenchmark.decodeCall` | payload=4096 | 162 | 8.10 | ≈ 0 |",   // written in us/op
                "| `BufferPoolBenchmark.acquireRelease1Thread` |  | 15.2 | 0.760 | ≈ 0 |",
                "| `BufferPoolBenchmark.acquireRelease2Threads` |  | 352 | 17.6 | 1.20 |");
    }

    @Test
    void realCodecAndPoolResultsMakeOnlyTheMicroTableAndNoChart() {
        final JmhResults real = Fixtures.results(Fixtures.CODEC_POOL_REAL);
        final String md = new Report(real, MACHINE, List.of("real.json")).markdown(null);
        assertThat(md).contains("No call benchmarks in these results.", "No stream benchmarks in these results.",
                "No fairness benchmarks in these results.");
        assertThat(md).doesNotContain("| braid", "| gRPC", "| raw socket", "![");
        assertThat(tableRows(section(md, "Codec"))).hasSize(6)
                .allMatch(l -> l.matches("\\| `(CodecBenchmark|BufferPoolBenchmark)\\.\\w+` \\|.*"));
        assertThat(new Report(real, MACHINE, List.of()).latencyChart().hasData()).isFalse();
    }

    @Test
    void aMissingReferenceLeavesOnlyTheRatioEmpty() {
        final JmhResults noRaw = Fixtures.fullSuiteWithout(r -> r.benchmark().endsWith("RawCallBenchmark.roundTrip"));
        final List<String> rows = tableRows(section(markdown(noRaw), "Calls"));
        assertThat(rows).first().isEqualTo("| braid nio | 40.0 | 60.0 | 100 | 400 | 200,000 | 96.0 | 48.0 | — | 2.00 |");
        // the raw row stays: its pipelined figure is still there
        assertThat(rows).last().isEqualTo("| raw socket | — | — | — | — | 400,000 | — | 0.250 | — | 4.00 |");
    }

    @Test
    void noRowIsInventedForASystemWithoutResults() {
        final JmhResults noGrpc = Fixtures.fullSuiteWithout(r -> r.simpleClassName().startsWith("Grpc"));
        final String md = markdown(noGrpc);
        assertThat(md).doesNotContain("| gRPC");
        assertThat(tableRows(section(md, "Calls")).get(0)).endsWith("| 2.00 | — |");
    }

    @Test
    void loadedStreamRateIsADashWhenTheGroupRanWithOtherThreadCounts() {
        final JmhResult loaded = Fixtures.results(Fixtures.FULL_SUITE)
                .first("dev.braid.jmh.FairnessBenchmark.loaded", java.util.Map.of("backend", "nio")).orElseThrow();
        assertThat(Report.loadedStreamMegabytes(loaded)).isCloseTo(1572.864, org.assertj.core.data.Offset.offset(1e-6));
        final JmhResult otherSplit = new JmhResult(loaded.benchmark(), loaded.mode(), 9, loaded.params(),
                loaded.primary(), loaded.secondary(), loaded.jvm(), loaded.source());
        assertThat(Report.loadedStreamMegabytes(otherSplit)).isNaN();
    }

    @Test
    void chartIsWrittenAsPngAndSvg(@TempDir final Path dir) throws IOException {
        final LatencyChart chart = new Report(Fixtures.results(Fixtures.FULL_SUITE), MACHINE, List.of()).latencyChart();
        assertThat(chart.hasData()).isTrue();
        final Path png = dir.resolve("img/call-latency.png");
        chart.writePng(png);
        final BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image.getWidth()).isEqualTo(960);
        assertThat(image.getHeight()).isEqualTo(560);
        final String svg = chart.svg();
        assertThat(svg).startsWith("<svg").contains("braid nio", "braid epoll", "braid loom", "gRPC",
                "stroke-dasharray", "p99.99", "10 ms", "µs (log scale)");
        chart.writeSvg(dir.resolve("img/call-latency.svg"));
        assertThat(Files.readString(dir.resolve("img/call-latency.svg"))).isEqualTo(svg);
    }

    @Test
    void imageLinkIsRelativeToTheMarkdownFile() {
        assertThat(Report.link(Path.of("docs/benchmarks-results.md"), Path.of("docs/img/call-latency.png")))
                .isEqualTo("img/call-latency.png");
        assertThat(Report.link(Path.of("out/r.md"), Path.of("docs/img/c.png"))).isEqualTo("../docs/img/c.png");
    }

    @Test
    void unitsAreConverted() {
        assertThat(Units.toMicros(1500, "ns/op")).isEqualTo(1.5);
        assertThat(Units.toMicros(2, "ms/op")).isEqualTo(2000);
        assertThat(Units.toMicros(2, "ops/s")).isNaN();
        assertThat(Units.toOpsPerSecond(3, "ops/ms")).isEqualTo(3000);
        assertThat(Units.toOpsPerSecond(3, "ops/min")).isEqualTo(0.05);
        assertThat(Metrics.format(Double.NaN)).isEqualTo("—");
        assertThat(Metrics.formatBytes(0.004)).isEqualTo("≈ 0");
        assertThat(Metrics.plain(0.00022345)).isEqualTo("0.0002235");
    }
}
