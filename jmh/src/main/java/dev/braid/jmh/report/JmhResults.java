package dev.braid.jmh.report;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** The results of one or more JMH JSON files ({@code -rf json}), in file order. Immutable. */
public final class JmhResults {
    private final List<JmhResult> results;

    public JmhResults(final List<JmhResult> results) {
        this.results = List.copyOf(results);
    }

    /** Reads and concatenates the given files; a later file's entry does not replace an earlier one. */
    public static JmhResults read(final List<Path> files) throws IOException {
        final List<JmhResult> all = new ArrayList<>();
        for (final Path f : files) {
            try (Reader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                all.addAll(parse(in, f.toString()));
            }
        }
        return new JmhResults(all);
    }

    /** Parses JMH JSON text; {@code source} names it in messages. */
    public static JmhResults parse(final String json, final String source) throws IOException {
        return new JmhResults(parse(new StringReader(json), source));
    }

    private static List<JmhResult> parse(final Reader in, final String source) throws IOException {
        final JsonElement root;
        try {
            root = JsonParser.parseReader(in);
        } catch (final JsonParseException e) {
            throw new IOException(source + ": not JSON (" + e.getMessage() + ")", e);
        }
        if (root.isJsonNull()) {
            return List.of();   // JMH writes nothing when every benchmark failed
        }
        if (!root.isJsonArray()) {
            throw new IOException(source + ": not a JMH result file (expected a JSON array of benchmarks)");
        }
        final List<JmhResult> out = new ArrayList<>();
        for (final JsonElement e : root.getAsJsonArray()) {
            final JsonObject o = e.getAsJsonObject();
            if (!o.has("benchmark") || !o.has("primaryMetric")) {
                throw new IOException(source + ": an entry has no 'benchmark' or 'primaryMetric'");
            }
            final Map<String, String> params = new LinkedHashMap<>();
            if (o.has("params")) {
                for (final Map.Entry<String, JsonElement> p : o.getAsJsonObject("params").entrySet()) {
                    params.put(p.getKey(), p.getValue().getAsString());
                }
            }
            final Map<String, Metric> secondary = new LinkedHashMap<>();
            if (o.has("secondaryMetrics")) {
                for (final Map.Entry<String, JsonElement> m : o.getAsJsonObject("secondaryMetrics").entrySet()) {
                    secondary.put(m.getKey(), metric(m.getValue().getAsJsonObject()));
                }
            }
            final List<String> jvmArgs = new ArrayList<>();
            if (o.has("jvmArgs")) {
                for (final JsonElement a : o.getAsJsonArray("jvmArgs")) {
                    jvmArgs.add(a.getAsString());
                }
            }
            final JmhResult.Jvm jvm = new JmhResult.Jvm(text(o, "jvm"), Collections.unmodifiableList(jvmArgs),
                    text(o, "jdkVersion"), text(o, "vmName"), text(o, "vmVersion"), text(o, "jmhVersion"),
                    o.has("forks") ? o.get("forks").getAsInt() : 0,
                    iterations(o, "warmupIterations", "warmupTime"),
                    iterations(o, "measurementIterations", "measurementTime"));
            out.add(new JmhResult(o.get("benchmark").getAsString(), text(o, "mode"),
                    o.has("threads") ? o.get("threads").getAsInt() : 1, params,
                    metric(o.getAsJsonObject("primaryMetric")), secondary, jvm, source));
        }
        return out;
    }

    private static Metric metric(final JsonObject m) {
        final TreeMap<Double, Double> percentiles = new TreeMap<>();
        if (m.has("scorePercentiles")) {
            for (final Map.Entry<String, JsonElement> p : m.getAsJsonObject("scorePercentiles").entrySet()) {
                percentiles.put(Double.parseDouble(p.getKey()), number(p.getValue()));
            }
        }
        final List<Double> iterations = new ArrayList<>();
        if (m.has("rawData") && m.get("rawData").isJsonArray()) {
            for (final JsonElement fork : m.getAsJsonArray("rawData")) {
                for (final JsonElement v : fork.getAsJsonArray()) {
                    iterations.add(number(v));
                }
            }
        }
        return new Metric(number(m.get("score")), number(m.get("scoreError")), text(m, "scoreUnit"), percentiles,
                iterations);
    }

    /** A JSON number, or NaN for JMH's "NaN" strings, null and anything else. */
    static double number(final JsonElement e) {
        if (e == null || e.isJsonNull() || !e.isJsonPrimitive()) {
            return Double.NaN;
        }
        try {
            return e.getAsDouble();
        } catch (final NumberFormatException ex) {
            return Double.NaN;
        }
    }

    private static String text(final JsonObject o, final String key) {
        final JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? "" : e.getAsString();
    }

    private static String iterations(final JsonObject o, final String count, final String time) {
        return o.has(count) ? o.get(count).getAsInt() + "×" + text(o, time) : "";
    }

    public List<JmhResult> all() {
        return results;
    }

    public boolean isEmpty() {
        return results.isEmpty();
    }

    /** Every result of that benchmark whose params include all of {@code params}. */
    public List<JmhResult> find(final String benchmark, final Map<String, String> params) {
        final List<JmhResult> out = new ArrayList<>();
        for (final JmhResult r : results) {
            if (r.benchmark().equals(benchmark) && r.hasParams(params)) {
                out.add(r);
            }
        }
        return out;
    }

    /** The first result of that benchmark whose params include all of {@code params}. */
    public Optional<JmhResult> first(final String benchmark, final Map<String, String> params) {
        return find(benchmark, params).stream().findFirst();
    }
}
