package dev.braid.jmh.report;

import dev.braid.jmh.report.Baselines.Better;
import dev.braid.jmh.report.Baselines.Check;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Compares JMH JSON results with the committed baselines ({@code jmh/baselines.json}): prints one line per
 * check and exits 1 when any check fails or a benchmark a check names is not in the results.
 *
 * <pre>
 * java -cp jmh/target/benchmarks.jar dev.braid.jmh.report.RegressionCheck [--baselines FILE] RESULT.json...
 *     --rewrite     set every baseline to the value measured in RESULT.json (tolerances kept), print the changes
 *     --jmh-args    print the JMH arguments (include patterns, -p params) that run just the checked benchmarks
 * </pre>
 */
public final class RegressionCheck {
    /** Where the baselines live, relative to the repository root. */
    public static final String DEFAULT_BASELINES = "jmh/baselines.json";

    /** What became of one check. */
    public enum Status { OK, FAIL, MISSING }

    /**
     * @param measured the figure (or ratio) measured, NaN when it could not be
     * @param limit    the worst value that passes
     * @param note     why it failed or is missing, empty when OK
     */
    public record Outcome(Check check, double measured, double limit, Status status, String note) {
    }

    private RegressionCheck() {
    }

    public static void main(final String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** The command line; returns the exit code: 0 all passed, 1 a check failed or is missing, 2 usage or I/O. */
    public static int run(final String[] args, final PrintStream out, final PrintStream err) {
        Path baselinesFile = Path.of(DEFAULT_BASELINES);
        boolean rewrite = false;
        boolean jmhArgs = false;
        final List<Path> inputs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--baselines" -> {
                    if (++i >= args.length) {
                        err.println("RegressionCheck: --baselines needs a file");
                        return 2;
                    }
                    baselinesFile = Path.of(args[i]);
                }
                case "--rewrite" -> rewrite = true;
                case "--jmh-args" -> jmhArgs = true;
                case "-h", "--help" -> {
                    usage(out);
                    return 0;
                }
                default -> {
                    if (args[i].startsWith("-")) {
                        err.println("RegressionCheck: unknown option " + args[i]);
                        usage(err);
                        return 2;
                    }
                    inputs.add(Path.of(args[i]));
                }
            }
        }
        final Baselines baselines;
        try {
            baselines = Baselines.read(baselinesFile);
        } catch (final IOException e) {
            err.println("RegressionCheck: cannot read baselines: " + e.getMessage());
            return 2;
        }
        if (jmhArgs) {
            jmhArgs(baselines).forEach(out::println);
            return 0;
        }
        if (inputs.isEmpty()) {
            usage(err);
            return 2;
        }
        final JmhResults results;
        try {
            results = JmhResults.read(inputs);
        } catch (final IOException e) {
            err.println("RegressionCheck: cannot read results: " + e.getMessage());
            return 2;
        }
        final List<Outcome> outcomes = evaluate(baselines, results);
        out.println("RegressionCheck: " + outcomes.size() + " checks from " + baselinesFile + " against "
                + String.join(", ", inputs.stream().map(Path::toString).toList()));
        out.println();
        out.print(table(outcomes));
        out.println();
        if (rewrite) {
            return rewrite(baselines, baselinesFile, outcomes, out, err);
        }
        out.println(summary(outcomes));
        return outcomes.stream().allMatch(o -> o.status() == Status.OK) ? 0 : 1;
    }

    private static void usage(final PrintStream s) {
        s.println("usage: RegressionCheck [--baselines FILE] [--rewrite] RESULT.json...");
        s.println("       RegressionCheck [--baselines FILE] --jmh-args");
        s.println("  Checks JMH results against the baselines (default " + DEFAULT_BASELINES + "); exit 1 if any");
        s.println("  check fails or names a benchmark missing from the results. --rewrite sets the baselines to");
        s.println("  the measured values (tolerances kept). --jmh-args prints the JMH arguments, one per line,");
        s.println("  that run only the benchmarks the checks name.");
    }

    /** Evaluates every check against the results, in file order. */
    public static List<Outcome> evaluate(final Baselines baselines, final JmhResults results) {
        final List<Outcome> out = new ArrayList<>();
        for (final Check c : baselines.checks()) {
            out.add(evaluate(c, results));
        }
        return out;
    }

    static Outcome evaluate(final Check c, final JmhResults results) {
        final double limit = c.tolerance().limit(c.baseline(), c.better());
        final List<JmhResult> found = results.find(c.benchmark(), c.params());
        if (found.isEmpty()) {
            return new Outcome(c, Double.NaN, limit, Status.MISSING, "missing from the results: " + name(c.benchmark(), c.params()));
        }
        if (found.size() > 1) {
            return new Outcome(c, Double.NaN, limit, Status.FAIL, ambiguous(c.benchmark(), found));
        }
        double measured = Metrics.value(found.get(0), c.metric(), c.statistic());
        if (Double.isNaN(measured)) {
            return new Outcome(c, Double.NaN, limit, Status.FAIL, noFigure(c, c.metric(), c.benchmark(), c.params()));
        }
        if (c.reference() != null) {
            final Baselines.Reference ref = c.reference();
            final List<JmhResult> refs = results.find(ref.benchmark(), ref.params());
            if (refs.isEmpty()) {
                return new Outcome(c, Double.NaN, limit, Status.MISSING,
                        "reference missing from the results: " + name(ref.benchmark(), ref.params()));
            }
            if (refs.size() > 1) {
                return new Outcome(c, Double.NaN, limit, Status.FAIL, "reference " + ambiguous(ref.benchmark(), refs));
            }
            final double denominator = Metrics.value(refs.get(0), ref.metric(), c.statistic());
            if (Double.isNaN(denominator)) {
                return new Outcome(c, Double.NaN, limit, Status.FAIL,
                        "reference " + noFigure(c, ref.metric(), ref.benchmark(), ref.params()));
            }
            if (denominator == 0) {
                return new Outcome(c, Double.NaN, limit, Status.FAIL,
                        "reference " + name(ref.benchmark(), ref.params()) + " " + ref.metric() + " is 0");
            }
            final String unit = Metrics.unit(found.get(0), c.metric());
            final String refUnit = Metrics.unit(refs.get(0), ref.metric());
            if (!unit.equals(refUnit)) {
                return new Outcome(c, Double.NaN, limit, Status.FAIL,
                        "cannot divide " + unit + " by " + refUnit + " (reference " + ref.metric() + ")");
            }
            measured = measured / denominator;
        }
        final boolean ok = c.better() == Better.LOWER ? measured <= limit : measured >= limit;
        return new Outcome(c, measured, limit, ok ? Status.OK : Status.FAIL,
                ok ? "" : (c.better() == Better.LOWER ? "above" : "below") + " the limit "
                        + Metrics.plain(limit) + " (baseline " + Metrics.plain(c.baseline()) + ", "
                        + c.tolerance().text() + ", " + c.better().name().toLowerCase(java.util.Locale.ROOT)
                        + " is better)");
    }

    private static String name(final String benchmark, final Map<String, String> params) {
        return benchmark + (params.isEmpty() ? "" : " {" + Metrics.paramsText(params) + "}");
    }

    private static String ambiguous(final String benchmark, final List<JmhResult> found) {
        final List<String> which = found.stream().map(r -> "{" + r.paramsText() + "}").toList();
        return found.size() + " results of " + benchmark + " match (" + String.join(", ", which)
                + "): name more params";
    }

    private static String noFigure(final Check c, final String metric, final String benchmark,
                                   final Map<String, String> params) {
        final String what = c.statistic() == Metrics.Statistic.MEAN ? metric
                : c.statistic().name().toLowerCase(java.util.Locale.ROOT) + " " + metric
                + " (needs per-iteration values)";
        return "no " + what + " for " + name(benchmark, params)
                + (metric.startsWith("gc.") ? " (run JMH with -prof gc)" : "");
    }

    /** The outcomes as an aligned text table. */
    public static String table(final List<Outcome> outcomes) {
        final List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"id", "benchmark", "params", "metric", "better", "baseline", "measured",
                "tolerance", "limit", "result"});
        for (final Outcome o : outcomes) {
            final Check c = o.check();
            rows.add(new String[]{c.id(), shortName(c.benchmark()), Metrics.paramsText(c.params()), c.metricText(),
                    c.better().name().toLowerCase(java.util.Locale.ROOT), Metrics.plain(c.baseline()),
                    Metrics.plain(o.measured()), c.tolerance().text(), Metrics.plain(o.limit()),
                    o.status().name()});
        }
        final int[] widths = new int[rows.get(0).length];
        for (final String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                widths[i] = Math.max(widths[i], r[i].length());
            }
        }
        final StringBuilder sb = new StringBuilder();
        for (final String[] r : rows) {
            final StringBuilder line = new StringBuilder();
            for (int i = 0; i < r.length; i++) {
                line.append(String.format("%-" + widths[i] + "s", r[i]));
                if (i < r.length - 1) {
                    line.append("  ");
                }
            }
            sb.append(line.toString().stripTrailing()).append('\n');
        }
        for (final Outcome o : outcomes) {
            if (o.status() != Status.OK) {
                sb.append(o.status()).append(' ').append(o.check().id()).append(": ").append(o.note()).append('\n');
            }
        }
        return sb.toString();
    }

    /** "RegressionCheck: OK, 6 of 6 checks passed" or a FAIL line naming the failed and missing checks. */
    static String summary(final List<Outcome> outcomes) {
        final List<String> failed = new ArrayList<>();
        final List<String> missing = new ArrayList<>();
        for (final Outcome o : outcomes) {
            if (o.status() == Status.FAIL) {
                failed.add(o.check().id());
            } else if (o.status() == Status.MISSING) {
                missing.add(o.check().id());
            }
        }
        if (failed.isEmpty() && missing.isEmpty()) {
            return "RegressionCheck: OK, " + outcomes.size() + " of " + outcomes.size() + " checks passed";
        }
        final StringBuilder sb = new StringBuilder("RegressionCheck: FAIL");
        if (!failed.isEmpty()) {
            sb.append(", ").append(failed.size()).append(" failed (").append(String.join(", ", failed)).append(')');
        }
        if (!missing.isEmpty()) {
            sb.append(", ").append(missing.size()).append(" missing from the results (")
                    .append(String.join(", ", missing)).append(')');
        }
        return sb.append(", of ").append(outcomes.size()).append(" checks").toString();
    }

    private static String shortName(final String benchmark) {
        final int last = benchmark.lastIndexOf('.');
        return last < 0 ? benchmark : benchmark.substring(benchmark.lastIndexOf('.', last - 1) + 1);
    }

    private static int rewrite(final Baselines baselines, final Path file, final List<Outcome> outcomes,
                               final PrintStream out, final PrintStream err) {
        final Map<String, Double> values = new LinkedHashMap<>();
        final List<String> kept = new ArrayList<>();
        out.println("RegressionCheck --rewrite: new baselines in " + file + " (tolerances kept)");
        for (final Outcome o : outcomes) {
            final Check c = o.check();
            if (Double.isNaN(o.measured())) {
                kept.add(c.id());
                out.println("  " + c.id() + ": kept " + Metrics.plain(c.baseline()) + " (" + o.note() + ")");
                continue;
            }
            values.put(c.id(), o.measured());
            final double next = Baselines.rounded(o.measured()).doubleValue();
            out.println("  " + c.id() + ": " + (next == c.baseline() ? "unchanged " + Metrics.plain(next)
                    : Metrics.plain(c.baseline()) + " -> " + Baselines.rounded(o.measured()).toPlainString()));
        }
        try {
            Files.writeString(file, baselines.rewrite(values), StandardCharsets.UTF_8);
        } catch (final IOException e) {
            err.println("RegressionCheck: cannot write " + file + ": " + e.getMessage());
            return 2;
        }
        if (!kept.isEmpty()) {
            out.println("RegressionCheck --rewrite: " + kept.size() + " baseline(s) not measured, kept: "
                    + String.join(", ", kept));
            return 1;
        }
        out.println("RegressionCheck --rewrite: " + values.size() + " baselines written");
        return 0;
    }

    /**
     * JMH arguments that run just the benchmarks the checks (and their references) name: one anchored include
     * pattern per benchmark, then {@code -p name=v1,v2} for every param the checks fix.
     */
    public static List<String> jmhArgs(final Baselines baselines) {
        final Set<String> benchmarks = new LinkedHashSet<>();
        final Map<String, Set<String>> params = new TreeMap<>();
        for (final Check c : baselines.checks()) {
            benchmarks.add(c.benchmark());
            c.params().forEach((k, v) -> params.computeIfAbsent(k, x -> new LinkedHashSet<>()).add(v));
            if (c.reference() != null) {
                benchmarks.add(c.reference().benchmark());
                c.reference().params().forEach((k, v) -> params.computeIfAbsent(k, x -> new LinkedHashSet<>()).add(v));
            }
        }
        final List<String> args = new ArrayList<>();
        for (final String b : benchmarks) {
            args.add("^" + b.replace(".", "\\.") + "$");
        }
        params.forEach((k, vs) -> {
            args.add("-p");
            args.add(k + "=" + String.join(",", vs));
        });
        return args;
    }
}
