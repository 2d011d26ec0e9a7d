package dev.braid.jmh.report;

import dev.braid.tooling.LatencyChart;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Turns JMH JSON results into markdown tables (calls, streams, fairness, micro-benchmarks, with the machine
 * they ran on) and a call-latency chart (PNG and SVG). Every figure missing from the results is shown as
 * "—"; a row appears only when the results hold at least one of its figures.
 *
 * <pre>
 * java -cp jmh/target/benchmarks.jar dev.braid.jmh.report.Report [-o OUT.md] [--image CHART.png] RESULT.json...
 * </pre>
 */
public final class Report {
    static final String PACKAGE = "dev.braid.jmh.";
    /** Bytes moved by one operation of the stream benchmarks. */
    static final long STREAM_OP_BYTES = 256 * 1024;
    /** Threads of each method of the fairness benchmarks' {@code loaded} group, as their @GroupThreads declare. */
    static final Map<String, Integer> LOADED_GROUP_THREADS =
            Map.of("loadedCall", 1, "loadedUpload", 2, "loadedDownload", 2);
    static final List<String> LOADED_STREAM_METHODS = List.of("loadedUpload", "loadedDownload");

    /** The systems compared, with their benchmark classes for calls, streams and fairness (null: none). */
    enum Contender {
        BRAID("braid", "CallBenchmark", "StreamBenchmark", "FairnessBenchmark"),
        GRPC("gRPC", "GrpcCallBenchmark", "GrpcStreamBenchmark", "GrpcFairnessBenchmark"),
        RAW("raw socket", "RawCallBenchmark", "RawStreamBenchmark", "RawFairnessBenchmark");

        final String label;
        final String calls;
        final String streams;
        final String fairness;

        Contender(final String label, final String calls, final String streams, final String fairness) {
            this.label = label;
            this.calls = PACKAGE + calls;
            this.streams = PACKAGE + streams;
            this.fairness = fairness == null ? null : PACKAGE + fairness;
        }
    }

    /** The machine the report describes; read from /proc, or given by tests. */
    public record Machine(String cpu, String cores, String kernel) {
        public static Machine fromProc() {
            String cpu = "—";
            int processors = 0;
            try {
                for (final String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                    if (line.startsWith("model name") && cpu.equals("—")) {
                        cpu = line.substring(line.indexOf(':') + 1).trim();
                    } else if (line.startsWith("processor")) {
                        processors++;
                    }
                }
            } catch (final IOException | RuntimeException e) {
                // not Linux: leave it out
            }
            String kernel;
            try {
                kernel = Files.readString(Path.of("/proc/sys/kernel/osrelease"), StandardCharsets.UTF_8).trim();
            } catch (final IOException | RuntimeException e) {
                kernel = System.getProperty("os.name") + " " + System.getProperty("os.version");
            }
            final String cores = processors > 0 ? Integer.toString(processors)
                    : Integer.toString(Runtime.getRuntime().availableProcessors());
            return new Machine(cpu, cores, kernel);
        }
    }

    /** A row: one system with one set of params (the backend, for braid). */
    record Row(Contender system, Map<String, String> params) {
        String label() {
            final String p = params.entrySet().stream()
                    .map(e -> e.getKey().equals("backend") ? e.getValue() : e.getKey() + "=" + e.getValue())
                    .collect(Collectors.joining(", "));
            return p.isEmpty() ? system.label : system.label + " " + p;
        }
    }

    private static final List<String> BACKEND_ORDER = List.of("nio", "epoll", "loom");

    private final JmhResults results;
    private final Machine machine;
    private final List<String> sources;

    public Report(final JmhResults results, final Machine machine, final List<String> sources) {
        this.results = results;
        this.machine = machine;
        this.sources = List.copyOf(sources);
    }

    public static void main(final String[] args) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Path out = null;
        Path image = null;
        final List<Path> inputs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-o", "--out" -> out = Path.of(value(args, ++i, "-o"));
                case "--image" -> image = Path.of(value(args, ++i, "--image"));
                case "-h", "--help" -> {
                    usage(System.out);
                    return;
                }
                default -> {
                    if (args[i].startsWith("-")) {
                        System.err.println("Report: unknown option " + args[i]);
                        usage(System.err);
                        System.exit(2);
                    }
                    inputs.add(Path.of(args[i]));
                }
            }
        }
        if (inputs.isEmpty()) {
            usage(System.err);
            System.exit(2);
        }
        final JmhResults results = JmhResults.read(inputs);
        final Report report = new Report(results, Machine.fromProc(),
                inputs.stream().map(Path::toString).toList());

        String imageLink = null;
        if (image != null) {
            final LatencyChart chart = report.latencyChart();
            if (chart.hasData()) {
                final Path svg = image.resolveSibling(image.getFileName().toString().replaceFirst("\\.png$", "") + ".svg");
                chart.writeSvg(svg);
                try {
                    chart.writePng(image);
                    System.err.println("Report: wrote " + image + " and " + svg);
                    imageLink = link(out, image);
                } catch (final IOException | RuntimeException | Error e) {   // e.g. no fonts: the SVG will do
                    System.err.println("Report: could not draw " + image + " (" + e + "); linking " + svg);
                    imageLink = link(out, svg);
                }
            } else {
                System.err.println("Report: no FairnessBenchmark idle/loaded percentiles in the results:"
                        + " no chart written");
            }
        }
        final String md = report.markdown(imageLink);
        if (out == null) {
            System.out.print(md);
        } else {
            final Path parent = out.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(out, md, StandardCharsets.UTF_8);
            System.err.println("Report: wrote " + out);
        }
    }

    private static String value(final String[] args, final int i, final String option) {
        if (i >= args.length) {
            System.err.println("Report: " + option + " needs a value");
            System.exit(2);
        }
        return args[i];
    }

    private static void usage(final PrintStream s) {
        s.println("usage: Report [-o OUT.md] [--image CHART.png] RESULT.json...");
        s.println("  Markdown tables to OUT.md (default: standard output); with --image, the call latency chart");
        s.println("  as CHART.png and CHART.svg, linked from the markdown by a path relative to OUT.md.");
    }

    /** The image path relative to the markdown file's folder (or to the working folder), with '/' separators. */
    static String link(final Path markdown, final Path image) {
        final Path base = markdown == null ? Path.of("").toAbsolutePath()
                : markdown.toAbsolutePath().normalize().getParent();
        return base.relativize(image.toAbsolutePath().normalize()).toString().replace('\\', '/');
    }

    // ---- markdown ----

    /** The whole report; {@code imageLink} is the chart's relative path, or null for none. */
    public String markdown(final String imageLink) {
        final StringBuilder md = new StringBuilder();
        md.append("# braid benchmark results\n\n");
        md.append("Made by `scripts/bench-report` (`dev.braid.jmh.report.Report`) from ")
                .append(sources.stream().map(s -> "`" + s + "`").collect(Collectors.joining(", ")))
                .append(". A figure the results do not hold is shown as —. "
                        + "Ratios compare figures of the same run; times are µs, MB is 10⁶ bytes.\n\n");
        header(md);
        calls(md);
        streams(md);
        fairness(md, imageLink);
        micro(md);
        return md.toString();
    }

    private void header(final StringBuilder md) {
        md.append("## Machine\n\n| | |\n|---|---|\n");
        md.append("| CPU | ").append(cell(machine.cpu())).append(" |\n");
        md.append("| cores | ").append(cell(machine.cores())).append(" |\n");
        md.append("| kernel | ").append(cell(machine.kernel())).append(" |\n");
        md.append("| JDK | ").append(distinct(r -> {
            final JmhResult.Jvm j = r.jvm();
            return (j.jdkVersion() + " (" + j.vmName() + " " + j.vmVersion() + ")").trim();
        })).append(" |\n");
        md.append("| JVM | ").append(distinct(r -> r.jvm().jvm().isEmpty() ? "" : "`" + r.jvm().jvm() + "`"))
                .append(" |\n");
        md.append("| JVM args | ").append(distinct(r -> r.jvm().jvmArgs().isEmpty() ? "none"
                : "`" + String.join(" ", r.jvm().jvmArgs()) + "`")).append(" |\n");
        md.append("| JMH | ").append(distinct(r -> (r.jvm().jmhVersion() + ", " + r.jvm().forks()
                + " fork(s), warm-up " + r.jvm().warmup() + ", measurement " + r.jvm().measurement()))).append(" |\n");
        md.append("\nCPU, cores and kernel are read from /proc where the report was made; the rest from the results.\n\n");
    }

    private String distinct(final Function<JmhResult, String> f) {
        final Set<String> values = new LinkedHashSet<>();
        for (final JmhResult r : results.all()) {
            final String v = f.apply(r);
            if (v != null && !v.isBlank()) {
                values.add(v);
            }
        }
        return values.isEmpty() ? "—" : cell(String.join("; ", values));
    }

    private void calls(final StringBuilder md) {
        md.append("## Calls\n\n");
        final List<Row> rows = rows(s -> s.calls);
        if (rows.isEmpty()) {
            md.append("No call benchmarks in these results.\n\n");
            return;
        }
        md.append("Round trip: one call in flight (SampleTime percentiles). Pipelined: 64 calls in flight. "
                + "B/call from `-prof gc` (`gc.alloc.rate.norm`).\n\n");
        md.append("| system | p50 µs | p90 µs | p99 µs | p99.9 µs | pipelined calls/s | B/call round trip"
                + " | B/call pipelined | p50 / raw p50 | pipelined / gRPC pipelined |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (final Row row : rows) {
            final JmhResult rt = exact(row.system().calls + ".roundTrip", row.params());
            final JmhResult pl = exact(row.system().calls + ".pipelined", row.params());
            final JmhResult rawRt = reference(Contender.RAW.calls + ".roundTrip", row.params());
            final JmhResult grpcPl = reference(Contender.GRPC.calls + ".pipelined", row.params());
            final double p50 = percentileMicros(rt, 50);
            final double plRate = pl == null ? Double.NaN : Metrics.opsPerSecond(pl);
            md.append("| ").append(row.label())
                    .append(" | ").append(Metrics.format(p50))
                    .append(" | ").append(Metrics.format(percentileMicros(rt, 90)))
                    .append(" | ").append(Metrics.format(percentileMicros(rt, 99)))
                    .append(" | ").append(Metrics.format(percentileMicros(rt, 99.9)))
                    .append(" | ").append(Metrics.format(plRate))
                    .append(" | ").append(Metrics.formatBytes(alloc(rt)))
                    .append(" | ").append(Metrics.formatBytes(alloc(pl)))
                    .append(" | ").append(ratio(p50, percentileMicros(rawRt, 50)))
                    .append(" | ").append(ratio(plRate, grpcPl == null ? Double.NaN : Metrics.opsPerSecond(grpcPl)))
                    .append(" |\n");
        }
        md.append('\n');
    }

    private void streams(final StringBuilder md) {
        md.append("## Streams\n\n");
        final List<Row> rows = rows(s -> s.streams);
        if (rows.isEmpty()) {
            md.append("No stream benchmarks in these results.\n\n");
            return;
        }
        md.append("One stream at a time; one operation moves ").append(STREAM_OP_BYTES / 1024)
                .append(" KiB. B/op is bytes allocated per 256 KiB operation.\n\n");
        md.append("| system | upload MB/s | download MB/s | upload / raw | download / raw | B/op upload"
                + " | B/op download |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|\n");
        for (final Row row : rows) {
            final JmhResult up = exact(row.system().streams + ".upload", row.params());
            final JmhResult down = exact(row.system().streams + ".download", row.params());
            final double upMb = streamMegabytes(up);
            final double downMb = streamMegabytes(down);
            md.append("| ").append(row.label())
                    .append(" | ").append(Metrics.format(upMb))
                    .append(" | ").append(Metrics.format(downMb))
                    .append(" | ").append(ratio(upMb, streamMegabytes(reference(Contender.RAW.streams + ".upload", row.params()))))
                    .append(" | ").append(ratio(downMb, streamMegabytes(reference(Contender.RAW.streams + ".download", row.params()))))
                    .append(" | ").append(Metrics.formatBytes(alloc(up)))
                    .append(" | ").append(Metrics.formatBytes(alloc(down)))
                    .append(" |\n");
        }
        md.append('\n');
    }

    private void fairness(final StringBuilder md, final String imageLink) {
        md.append("## Fairness: calls beside streams\n\n");
        final List<Row> rows = rows(s -> s.fairness);
        if (rows.isEmpty()) {
            md.append("No fairness benchmarks in these results.\n\n");
            return;
        }
        md.append("Idle: one thread making calls alone. Loaded: the same calls on a connection that also carries "
                + "2 uploads and 2 downloads of 256 KiB operations. Loaded streams MB/s adds up each stream "
                + "method's threads × 256 KiB / mean time per operation; ÷ one stream divides it by the mean of "
                + "the upload and download MB/s of one stream alone (Streams table, same system). The raw socket cannot "
                + "multiplex: its pings and its four transfers each have a TCP connection of their own, so nothing "
                + "queues ahead of a ping and its row is the machine's floor (CPU and scheduler contention only).\n\n");
        md.append("| system | idle p50 µs | idle p99 µs | loaded p50 µs | loaded p99 µs | loaded p99 / idle p99"
                + " | loaded streams MB/s | ÷ one stream |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (final Row row : rows) {
            final Metric idle = idleCall(exact(row.system().fairness + ".idle", row.params()));
            final JmhResult loadedResult = exact(row.system().fairness + ".loaded", row.params());
            final Metric loaded = loadedResult == null ? null : loadedResult.secondary("loadedCall");
            final double idle99 = idle == null ? Double.NaN : idle.percentileMicros(99);
            final double loaded99 = loaded == null ? Double.NaN : loaded.percentileMicros(99);
            final double aggregate = loadedStreamMegabytes(loadedResult);
            final double oneStream = (streamMegabytes(exact(row.system().streams + ".upload", row.params()))
                    + streamMegabytes(exact(row.system().streams + ".download", row.params()))) / 2;
            md.append("| ").append(row.label())
                    .append(" | ").append(Metrics.format(idle == null ? Double.NaN : idle.percentileMicros(50)))
                    .append(" | ").append(Metrics.format(idle99))
                    .append(" | ").append(Metrics.format(loaded == null ? Double.NaN : loaded.percentileMicros(50)))
                    .append(" | ").append(Metrics.format(loaded99))
                    .append(" | ").append(ratio(loaded99, idle99))
                    .append(" | ").append(Metrics.format(aggregate))
                    .append(" | ").append(ratio(aggregate, oneStream))
                    .append(" |\n");
        }
        md.append('\n');
        if (imageLink != null) {
            md.append("![Call latency percentiles, idle and beside streams](").append(imageLink).append(")\n\n");
        }
    }

    private void micro(final StringBuilder md) {
        md.append("## Codec, buffer pool and other micro-benchmarks\n\n");
        final Set<String> known = new LinkedHashSet<>();
        for (final Contender s : Contender.values()) {
            known.add(s.calls);
            known.add(s.streams);
            if (s.fairness != null) {
                known.add(s.fairness);
            }
        }
        final List<JmhResult> micro = results.all().stream().filter(r -> !known.contains(r.className())).toList();
        if (micro.isEmpty()) {
            md.append("No micro-benchmarks in these results.\n\n");
            return;
        }
        md.append("| benchmark | params | ns/op | ± | B/op |\n|---|---|---:|---:|---:|\n");
        for (final JmhResult r : micro) {
            final Metric m = r.primary();
            double ns = m.scoreNanos();
            double err = Units.toMicros(m.scoreError(), m.unit()) * 1e3;
            if (Double.isNaN(ns)) {   // throughput mode: time per operation of one thread
                final double rate = Units.toOpsPerSecond(m.score(), m.unit());
                ns = rate > 0 ? r.threads() * 1e9 / rate : Double.NaN;
                err = Double.NaN;
            }
            md.append("| `").append(r.simpleClassName()).append('.').append(r.method()).append("` | ")
                    .append(r.params().isEmpty() ? "" : cell(r.paramsText()))
                    .append(" | ").append(Metrics.format(ns))
                    .append(" | ").append(Metrics.format(err))
                    .append(" | ").append(Metrics.formatBytes(r.allocBytesPerOp()))
                    .append(" |\n");
        }
        md.append('\n');
    }

    // ---- figures ----

    /** Rows of one family: every (system, params) the results hold for its classes, braid by backend first. */
    List<Row> rows(final Function<Contender, String> family) {
        final Map<String, Row> rows = new LinkedHashMap<>();
        for (final Contender s : Contender.values()) {
            final String cls = family.apply(s);
            if (cls == null) {
                continue;
            }
            final List<Row> found = new ArrayList<>();
            for (final JmhResult r : results.all()) {
                if (r.className().equals(cls)) {
                    final Row row = new Row(s, r.params());
                    if (found.stream().noneMatch(f -> f.params().equals(row.params()))) {
                        found.add(row);
                    }
                }
            }
            found.sort((a, b) -> Integer.compare(backendRank(a), backendRank(b)));
            for (final Row row : found) {
                rows.putIfAbsent(row.label(), row);
            }
        }
        return new ArrayList<>(rows.values());
    }

    private static int backendRank(final Row r) {
        final int i = BACKEND_ORDER.indexOf(r.params().getOrDefault("backend", ""));
        return i < 0 ? BACKEND_ORDER.size() : i;
    }

    /** The result of that benchmark with exactly these params, or null. */
    private JmhResult exact(final String benchmark, final Map<String, String> params) {
        for (final JmhResult r : results.find(benchmark, params)) {
            if (r.params().equals(params)) {
                return r;
            }
        }
        return null;
    }

    /** A reference result (raw, gRPC) whose own params all appear in {@code rowParams}, or null. */
    private JmhResult reference(final String benchmark, final Map<String, String> rowParams) {
        for (final JmhResult r : results.find(benchmark, Map.of())) {
            if (rowParams.entrySet().containsAll(r.params().entrySet())) {
                return r;
            }
        }
        return null;
    }

    private static double percentileMicros(final JmhResult r, final double percent) {
        return r == null ? Double.NaN : r.primary().percentileMicros(percent);
    }

    private static double alloc(final JmhResult r) {
        return r == null ? Double.NaN : r.allocBytesPerOp();
    }

    /** MB/s of a stream benchmark (ops/s × 256 KiB), NaN when absent. */
    static double streamMegabytes(final JmhResult r) {
        return r == null ? Double.NaN : Metrics.opsPerSecond(r) * STREAM_OP_BYTES / 1e6;
    }

    /** The idle call's figures: its own secondary metric if JMH wrote one, else the group's (one method). */
    private static Metric idleCall(final JmhResult idle) {
        if (idle == null) {
            return null;
        }
        final Metric own = idle.secondary("idleCall");
        return own != null ? own : idle.primary();
    }

    /**
     * Sum over the loaded group's stream methods of threads × 256 KiB / mean time per operation, in MB/s;
     * NaN when a stream method is missing or the group ran with other thread counts than declared.
     */
    static double loadedStreamMegabytes(final JmhResult loaded) {
        if (loaded == null) {
            return Double.NaN;
        }
        final int declared = LOADED_GROUP_THREADS.values().stream().mapToInt(Integer::intValue).sum();
        if (loaded.threads() != declared) {
            return Double.NaN;   // -tg changed the split: per-method thread counts are not in the JSON
        }
        double sum = 0;
        for (final String method : LOADED_STREAM_METHODS) {
            final Metric m = loaded.secondary(method);
            final double micros = m == null ? Double.NaN : m.scoreMicros();
            if (!(micros > 0)) {
                return Double.NaN;
            }
            sum += LOADED_GROUP_THREADS.get(method) * STREAM_OP_BYTES / (micros * 1e-6) / 1e6;
        }
        return sum;
    }

    private static String ratio(final double a, final double b) {
        if (Double.isNaN(a) || Double.isNaN(b) || b == 0) {
            return "—";
        }
        return String.format(Locale.ROOT, "%.2f", a / b);
    }

    private static String cell(final String s) {
        return s == null || s.isBlank() ? "—" : s.replace("|", "\\|");
    }

    // ---- chart ----

    /** The call latency chart from the fairness benchmarks: idle and loaded per system/backend. */
    public LatencyChart latencyChart() {
        final List<LatencyChart.Series> series = new ArrayList<>();
        for (final Row row : rows(s -> s.fairness)) {
            final Metric idle = idleCall(exact(row.system().fairness + ".idle", row.params()));
            final JmhResult loadedResult = exact(row.system().fairness + ".loaded", row.params());
            final Metric loaded = loadedResult == null ? null : loadedResult.secondary("loadedCall");
            if (idle != null) {
                series.add(new LatencyChart.Series(row.label(), false, chartPoints(idle)));
            }
            if (loaded != null) {
                series.add(new LatencyChart.Series(row.label(), true, chartPoints(loaded)));
            }
        }
        return new LatencyChart("Call latency, alone and beside streams",
                "Fairness benchmarks: one call in flight; loaded = the same calls beside 2 uploads + 2 downloads on the connection",
                new LatencyChart.Legend("system / backend", "idle: calls alone", "loaded: beside streams"), series);
    }

    private static double[] chartPoints(final Metric m) {
        final double[] v = new double[LatencyChart.PERCENTILES.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = m.percentileMicros(LatencyChart.PERCENTILES[i]);
        }
        return v;
    }
}
