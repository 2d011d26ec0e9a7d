package dev.braid.jmh.report;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The committed baselines of {@code jmh/baselines.json}: a list of checks, each naming a benchmark (and its
 * params), a figure of it, optionally a reference benchmark of the same run to divide by, the expected
 * value, which way is better and how far the measured value may move the wrong way. docs/bench-tools.md
 * describes the format. The JSON is kept as read, so {@link #rewrite} changes only baselines. Immutable.
 */
public final class Baselines {

    /** Which way a figure improves. */
    public enum Better { LOWER, HIGHER }

    /**
     * How far a figure may move the wrong way; NaN for a bound not given. When several are given the most
     * generous wins, so an absolute bound keeps a near-zero baseline (allocation) from failing on noise.
     *
     * @param absolute same unit as the figure: baseline ± absolute
     * @param relative fraction of the baseline: baseline × (1 ± relative)
     * @param factor   baseline × factor (lower is better) or baseline ÷ factor (higher is better), factor ≥ 1
     */
    public record Tolerance(double absolute, double relative, double factor) {
        /** The worst value that still passes. */
        public double limit(final double baseline, final Better better) {
            double limit = baseline;
            final boolean lower = better == Better.LOWER;
            if (!Double.isNaN(absolute)) {
                limit = pick(limit, lower ? baseline + absolute : baseline - absolute, lower);
            }
            if (!Double.isNaN(relative)) {
                final double d = Math.abs(baseline) * relative;
                limit = pick(limit, lower ? baseline + d : baseline - d, lower);
            }
            if (!Double.isNaN(factor)) {
                limit = pick(limit, lower ? baseline * factor : baseline / factor, lower);
            }
            return limit;
        }

        private static double pick(final double a, final double b, final boolean lower) {
            return lower ? Math.max(a, b) : Math.min(a, b);
        }

        /** "8 abs, 10%, ×2": the bounds given, or "exact". */
        public String text() {
            final List<String> parts = new ArrayList<>();
            if (!Double.isNaN(absolute)) {
                parts.add(Metrics.plain(absolute) + " abs");
            }
            if (!Double.isNaN(relative)) {
                parts.add(Metrics.plain(relative * 100) + "%");
            }
            if (!Double.isNaN(factor)) {
                parts.add("×" + Metrics.plain(factor));
            }
            return parts.isEmpty() ? "exact" : String.join(", ", parts);
        }
    }

    /** A benchmark figure to divide by: same run, e.g. the raw-socket round trip. */
    public record Reference(String benchmark, Map<String, String> params, String metric) {
    }

    /**
     * One check.
     *
     * @param statistic how a score is taken over the iterations (both sides of a ratio); mean unless given
     * @param reference null for a plain figure (allocation); else the figure is this benchmark's divided by it
     */
    public record Check(String id, String benchmark, Map<String, String> params, String metric,
                        Metrics.Statistic statistic, Reference reference, double baseline, Better better,
                        Tolerance tolerance) {
        /** "gc.alloc.rate.norm", "min gc.alloc.rate.norm" or "p50 / RawCallBenchmark.roundTrip p50". */
        public String metricText() {
            final String prefix = statistic == Metrics.Statistic.MEAN ? ""
                    : statistic.name().toLowerCase(java.util.Locale.ROOT) + " ";
            if (reference == null) {
                return prefix + metric;
            }
            final String b = reference.benchmark();
            final String shortName = b.substring(b.lastIndexOf('.', b.lastIndexOf('.') - 1) + 1);
            final String p = reference.params().isEmpty() ? "" : " {" + Metrics.paramsText(reference.params()) + "}";
            return prefix + metric + " / " + shortName + p + " " + reference.metric();
        }
    }

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    private final JsonObject root;
    private final List<Check> checks;

    private Baselines(final JsonObject root, final List<Check> checks) {
        this.root = root;
        this.checks = List.copyOf(checks);
    }

    public static Baselines read(final Path file) throws IOException {
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /** Parses baselines JSON; {@code source} names it in messages. Throws with the check's id on any error. */
    public static Baselines parse(final String json, final String source) throws IOException {
        final JsonObject root;
        try {
            final JsonElement e = JsonParser.parseString(json);
            if (!e.isJsonObject() || !e.getAsJsonObject().has("checks")) {
                throw new IOException(source + ": expected an object with a \"checks\" list");
            }
            root = e.getAsJsonObject();
        } catch (final JsonParseException | IllegalStateException e) {
            throw new IOException(source + ": not JSON (" + e.getMessage() + ")", e);
        }
        final List<Check> checks = new ArrayList<>();
        final java.util.Set<String> ids = new java.util.HashSet<>();
        int index = 0;
        for (final JsonElement e : root.getAsJsonArray("checks")) {
            final JsonObject o = e.getAsJsonObject();
            final String where = source + ": check " + (o.has("id") ? "'" + o.get("id").getAsString() + "'" : "#" + index);
            try {
                final Check c = check(o);
                if (!ids.add(c.id())) {
                    throw new IOException("duplicate id");
                }
                checks.add(c);
            } catch (final IOException | RuntimeException ex) {
                throw new IOException(where + ": " + ex.getMessage(), ex);
            }
            index++;
        }
        return new Baselines(root, checks);
    }

    private static Check check(final JsonObject o) throws IOException {
        final String id = required(o, "id");
        final String benchmark = required(o, "benchmark");
        final String metric = required(o, "metric");
        Reference reference = null;
        if (o.has("reference") && !o.get("reference").isJsonNull()) {
            final JsonObject r = o.getAsJsonObject("reference");
            reference = new Reference(required(r, "benchmark"), params(r),
                    r.has("metric") ? r.get("metric").getAsString() : metric);
        }
        if (!o.has("baseline")) {
            throw new IOException("no \"baseline\"");
        }
        final double baseline = o.get("baseline").getAsDouble();
        final String betterText = required(o, "better");
        final Better better = switch (betterText) {
            case "lower" -> Better.LOWER;
            case "higher" -> Better.HIGHER;
            default -> throw new IOException("\"better\" must be \"lower\" or \"higher\", not \"" + betterText + "\"");
        };
        if (!o.has("tolerance")) {
            throw new IOException("no \"tolerance\" (give absolute, relative and/or factor)");
        }
        final JsonObject t = o.getAsJsonObject("tolerance");
        final Tolerance tolerance = new Tolerance(bound(t, "absolute"), bound(t, "relative"), bound(t, "factor"));
        if (!Double.isNaN(tolerance.factor()) && tolerance.factor() < 1) {
            throw new IOException("tolerance factor must be 1 or more, not " + tolerance.factor());
        }
        for (final String key : t.keySet()) {
            if (!key.equals("absolute") && !key.equals("relative") && !key.equals("factor")) {
                throw new IOException("unknown tolerance \"" + key + "\" (absolute, relative, factor)");
            }
        }
        final String statisticText = o.has("statistic") ? o.get("statistic").getAsString() : "mean";
        final Metrics.Statistic statistic = switch (statisticText) {
            case "mean" -> Metrics.Statistic.MEAN;
            case "min" -> Metrics.Statistic.MIN;
            case "max" -> Metrics.Statistic.MAX;
            default -> throw new IOException("\"statistic\" must be \"mean\", \"min\" or \"max\", not \""
                    + statisticText + "\"");
        };
        return new Check(id, benchmark, params(o), metric, statistic, reference, baseline, better, tolerance);
    }

    private static String required(final JsonObject o, final String key) throws IOException {
        if (!o.has(key) || o.get(key).isJsonNull() || o.get(key).getAsString().isBlank()) {
            throw new IOException("no \"" + key + "\"");
        }
        return o.get(key).getAsString();
    }

    private static Map<String, String> params(final JsonObject o) {
        final Map<String, String> p = new LinkedHashMap<>();
        if (o.has("params") && o.get("params").isJsonObject()) {
            for (final Map.Entry<String, JsonElement> e : o.getAsJsonObject("params").entrySet()) {
                p.put(e.getKey(), e.getValue().getAsString());
            }
        }
        return p;
    }

    private static double bound(final JsonObject t, final String key) throws IOException {
        if (!t.has(key)) {
            return Double.NaN;
        }
        final double v = t.get(key).getAsDouble();
        if (!(v >= 0)) {
            throw new IOException("tolerance " + key + " must be 0 or more, not " + t.get(key));
        }
        return v;
    }

    public List<Check> checks() {
        return checks;
    }

    /**
     * The file text with the baselines of the given checks (by id) replaced, rounded to three significant
     * digits; everything else (tolerances, order, other fields) kept.
     */
    public String rewrite(final Map<String, Double> newBaselines) {
        final JsonObject copy = root.deepCopy();
        final com.google.gson.JsonArray objects = copy.getAsJsonArray("checks");
        for (int i = 0; i < checks.size(); i++) {
            final Double v = newBaselines.get(checks.get(i).id());
            if (v != null) {
                objects.get(i).getAsJsonObject().add("baseline", new JsonPrimitive(rounded(v)));
            }
        }
        return GSON.toJson(copy) + "\n";
    }

    /** Three significant digits, plain notation: 0.349, 1.52, 1230. */
    static BigDecimal rounded(final double v) {
        if (v == 0) {
            return BigDecimal.ZERO;
        }
        return new BigDecimal(new BigDecimal(v).round(new MathContext(3)).stripTrailingZeros().toPlainString());
    }
}
