package dev.braid.cli;

import dev.braid.spi.Backend;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The demo runs end to end with short phases (its server in a child JVM, as by default, or in this one):
 * its table is sane (every figure present and positive, braid's rows and then the raw floor's) and its chart
 * is a PNG. Never timed: no figure is compared with a speed.
 */
class DemoCommandTest {
    /** backend, phase, calls, calls/s, p50, p99, p99.9, max, streams MB/s, p99 ratio. */
    private static final Pattern ROW = Pattern.compile("^(\\S+) +(calls alone|beside \\d+ streams?) +(\\d+) +"
            + "([\\d.]+) +([\\d.]+) +([\\d.]+) +([\\d.]+) +([\\d.]+) +([\\d.]+|-) +([\\d.]+|-)$", Pattern.MULTILINE);

    @TempDir
    Path dir;

    @AfterEach
    void nothingLeftRunning() {
        LeakChecks.assertNoBraidThreads();
        LeakChecks.assertNoBraidVirtualThreads();
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(final String... args) {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    private record Row(String backend, String phase, double[] figures, String mbps, String ratio) {
    }

    private static List<Row> rows(final String out) {
        final List<Row> rows = new ArrayList<>();
        final Matcher m = ROW.matcher(out);
        while (m.find()) {
            final double[] figures = new double[6];
            for (int g = 3; g <= 8; g++) {
                figures[g - 3] = Double.parseDouble(m.group(g));
            }
            rows.add(new Row(m.group(1), m.group(2), figures, m.group(9), m.group(10)));
        }
        return rows;
    }

    /** Both rows of one backend: every figure positive; the streams' figures only on the streams row. */
    private static void assertSane(final Row alone, final Row beside, final String out) {
        assertThat(alone.phase()).isEqualTo("calls alone");
        assertThat(beside.phase()).startsWith("beside ");
        assertThat(beside.backend()).isEqualTo(alone.backend());
        for (Row r : List.of(alone, beside)) {
            for (int i = 0; i < r.figures().length; i++) {
                assertThat(r.figures()[i]).as("figure %d of %s %s in:%n%s", i, r.backend(), r.phase(), out)
                        .isPositive();
            }
        }
        assertThat(alone.mbps()).isEqualTo("-");
        assertThat(alone.ratio()).isEqualTo("-");
        assertThat(Double.parseDouble(beside.mbps())).as("streams MB/s in:%n%s", out).isPositive();
        assertThat(Double.parseDouble(beside.ratio())).as("p99 ratio in:%n%s", out).isPositive();
    }

    private static void assertPng(final Path file) throws IOException {
        assertThat(file).exists();
        final BufferedImage image = ImageIO.read(file.toFile());
        assertThat(image).as("ImageIO reads %s", file).isNotNull();
        assertThat(image.getWidth()).isGreaterThan(100);
        assertThat(image.getHeight()).isGreaterThan(100);
    }

    @Test
    void demoPrintsASaneTableAndWritesTheChart() throws IOException {
        final Path chart = dir.resolve("demo.png");
        final Run r = run("demo", "--backend", "nio", "--duration", "1.5s", "--warmup", "300ms", "--streams", "4",
                "--chart", chart.toString());
        assertThat(r.code()).as("exit code; stdout:%n%s%nstderr:%n%s", r.out(), r.err()).isZero();
        final List<Row> rows = rows(r.out());
        assertThat(rows).as("table rows in:%n%s", r.out()).hasSize(4);
        assertThat(rows.get(0).backend()).isEqualTo("nio");
        assertThat(rows.get(1).phase()).isEqualTo("beside 4 streams");
        assertSane(rows.get(0), rows.get(1), r.out());
        assertThat(rows.get(2).backend()).as("the machine's floor comes last").isEqualTo("raw");
        assertSane(rows.get(2), rows.get(3), r.out());
        assertThat(r.out()).contains("server in a JVM of its own").contains("the machine's own floor");
        assertThat(r.out()).contains("after close: 0 pooled buffers outstanding")
                .contains("chart: " + chart.toAbsolutePath());
        assertPng(chart);
        // live progress: not a terminal here, so plain lines, each phase's last state kept
        assertThat(r.err()).contains("[nio] calls alone").contains("[nio] beside 4 streams").contains("calls ")
                .contains("moved ").contains("[raw] calls alone").contains("[raw] beside 4 streams")
                .doesNotContain("\r");
    }

    @Test
    void theServerCanShareThisJvmAndTheClientsStreamsCanBeListenersOrVirtualThreads() {
        for (String streams : List.of("listener", "virtual")) {
            final Run r = run("demo", "--backend", "nio", "--duration", "500ms", "--warmup", "0", "--streams", "2",
                    "--server", "in-process", "--client-streams", streams, "--no-raw", "--no-chart");
            assertThat(r.code()).as("exit code; stdout:%n%s%nstderr:%n%s", r.out(), r.err()).isZero();
            final List<Row> rows = rows(r.out());
            assertThat(rows).as("table rows in:%n%s", r.out()).hasSize(2);
            assertSane(rows.get(0), rows.get(1), r.out());
            assertThat(r.out()).contains("server in this JVM").doesNotContain("raw ")
                    .contains("after close: 0 pooled buffers outstanding");
        }
    }

    @Test
    void backendAllGivesEveryAvailableBackendItsRows() throws IOException {
        // core's test jar, on this class path, registers two fake backends for its selection tests: fake-native
        // cannot run (skipped), fake-ok says it can but fails to start (reported; the others still run)
        final List<Backend> installed = DemoCommand.installedBackends();
        final List<String> available = installed.stream().filter(Backend::isAvailable)
                .filter(b -> !isSelectionTestFake(b)).map(Backend::name).toList();
        final boolean fakeOk = installed.stream().anyMatch(b -> isSelectionTestFake(b) && b.isAvailable());
        assertThat(available).contains("nio");
        final Path chart = dir.resolve("all.png");
        final Run r = run("demo", "--backend", "all", "--duration", "500ms", "--warmup", "0", "--streams", "2",
                "--chart", chart.toString());
        assertThat(r.code()).as("exit code; stdout:%n%s%nstderr:%n%s", r.out(), r.err()).isEqualTo(fakeOk ? 1 : 0);
        for (Backend b : installed) {
            if (!b.isAvailable()) {
                assertThat(r.out()).contains(b.name() + ": skipped, cannot run here: ");
            } else if (isSelectionTestFake(b)) {
                assertThat(r.err()).contains("braid: " + b.name() + " failed: ");
            }
        }
        final List<Row> rows = rows(r.out());
        final List<String> expected = new ArrayList<>(available);
        expected.add("raw"); // the machine's floor, once, after every backend
        assertThat(rows.stream().map(Row::backend).distinct().toList()).as("backends in:%n%s", r.out())
                .isEqualTo(expected);
        assertThat(rows).hasSize(2 * expected.size());
        for (int i = 0; i < rows.size(); i += 2) {
            assertSane(rows.get(i), rows.get(i + 1), r.out());
        }
        assertThat(r.out()).contains("after close: 0 pooled buffers outstanding");
        assertPng(chart);
    }

    @Test
    void tlsRowsWithTheDefaultEngine() {
        // the default, --tls-engine auto: BoringSSL's engines here; the JDK's are in SecureServeTest
        final Run r = run("demo", "--backend", "nio", "--duration", "500ms", "--warmup", "0", "--streams", "2",
                "--server", "in-process", "--tls", "--no-raw", "--no-chart");
        assertThat(r.code()).as("exit code; stdout:%n%s%nstderr:%n%s", r.out(), r.err()).isZero();
        final List<Row> rows = rows(r.out());
        assertThat(rows.stream().map(Row::backend).toList()).as("rows in:%n%s", r.out())
                .containsExactly("nio", "nio", "nio+tls", "nio+tls");
        assertSane(rows.get(2), rows.get(3), r.out());
        assertThat(r.out()).contains("TLS 1.3 with BoringSSL's engines on both sides (--tls-engine jdk for the JDK's)")
                .contains("nio+tls against nio: calls alone p50").contains("after close: 0 pooled buffers outstanding");
    }

    private static boolean isSelectionTestFake(final Backend b) {
        return b.getClass().getName().startsWith("dev.braid.internal.engine.BackendSelectorTest");
    }

    @Test
    void badUsageExitsWith2AndOneReadableLine() {
        final Run r = run("demo", "--duration", "lots");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--duration").contains("lots").doesNotContain("\tat ");
        final Run zero = run("demo", "--streams", "0");
        assertThat(zero.code()).isEqualTo(2);
        assertThat(zero.err()).contains("--streams must be at least 1");
        final Run how = run("demo", "--client-streams", "pigeons", "--server", "cloud");
        assertThat(how.code()).isEqualTo(2);
        assertThat(how.err()).contains("--client-streams must be platform, virtual or listener")
                .contains("--server must be process or in-process");
        final Run engine = run("demo", "--tls-engine", "openssl");
        assertThat(engine.code()).isEqualTo(2);
        assertThat(engine.err()).contains("--tls-engine chooses the engines of --tls; give --tls too");
    }

    @Test
    void aChartThatCannotBeWrittenIsOneLineAndExit1() throws IOException {
        final Path notADirectory = Files.writeString(dir.resolve("file.txt"), "x");
        final Run r = run("demo", "--backend", "nio", "--duration", "200ms", "--warmup", "0", "--streams", "1",
                "--no-raw", "--chart", notADirectory.resolve("demo.png").toString());
        assertThat(r.code()).as("stderr: %s", r.err()).isEqualTo(1);
        assertThat(rows(r.out())).hasSize(2); // the table still comes first
        assertThat(r.err()).contains("braid: cannot write the chart ").doesNotContain("\tat ");
    }

    @Test
    void unknownBackendFailsWithTheValidValues() {
        final Run r = run("demo", "--backend", "carrier-pigeon", "--no-chart");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("unknown braid.backend 'carrier-pigeon'").contains("nio")
                .doesNotContain("\tat ");
    }

    @Test
    void helpSaysHowLongItTakesAndGivesExamples() {
        final Run r = run("demo", "--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("--duration").contains("about a minute").contains("Examples:")
                .contains("--backend all").contains("Exit codes");
    }

    @Test
    void durationsInTheFormsTheHelpGives() {
        assertThat(DurationConverter.parse("10s")).isEqualTo(Duration.ofSeconds(10));
        assertThat(DurationConverter.parse("2.5s")).isEqualTo(Duration.ofMillis(2500));
        assertThat(DurationConverter.parse("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(DurationConverter.parse("1m")).isEqualTo(Duration.ofMinutes(1));
        assertThat(DurationConverter.parse("3")).isEqualTo(Duration.ofSeconds(3));
        assertThat(DurationConverter.format(Duration.ofMillis(1500))).isEqualTo("1.5 s");
    }
}
