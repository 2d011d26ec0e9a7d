package dev.braid.jmh;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The observers' cost on a shared machine: {@link ObserverBenchmark}'s pipelined calls, with no observer,
 * a counting one and the Micrometer binding, <em>interleaved</em>. All three fixtures run side by side in
 * one JVM; each round drives each of them in turn for a slice (the order rotating from round to round),
 * and each round gives the ratios of the observed rates to the unobserved one measured next to them. On a
 * machine other work shares, that cancels what JMH's one-after-the-other trials cannot: load that comes
 * and goes between trials. Reports the median ratio over the rounds and the quartiles, of two figures:
 * calls per second (wall clock: what the issue asks, but on a loaded machine it also measures who else got
 * the CPUs) and calls per CPU-second of this process ({@code OperatingSystemMXBean.getProcessCpuTime}: the
 * work a call costs, which other processes' load disturbs far less; on an otherwise idle machine where the
 * pipeline is CPU-bound the two agree).
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp jmh/target/benchmarks.jar dev.braid.jmh.ObserverOverheadProbe [backend] [rounds] [sliceMillis]</pre>
 */
public final class ObserverOverheadProbe {
    private ObserverOverheadProbe() {
    }

    public static void main(final String[] args) throws Exception {
        final String backend = args.length > 0 ? args[0] : "nio";
        final int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        final long slice = args.length > 2 ? Long.parseLong(args[2]) : 300;
        final Observers[] kinds = Observers.values();
        final Map<Observers, BraidFixture> fixtures = new EnumMap<>(Observers.class);
        final Map<Observers, Pipeline> pipelines = new EnumMap<>(Observers.class);
        try {
            for (Observers o : kinds) {
                final BraidFixture f = new BraidFixture(backend, o);
                fixtures.put(o, f);
                pipelines.put(o, new Pipeline(f.connection, 64));
            }
            final int warmup = Math.max(3, rounds / 5);
            final Map<Observers, List<Double>> ratios = new EnumMap<>(Observers.class);
            final Map<Observers, List<Double>> rates = new EnumMap<>(Observers.class);
            final Map<Observers, List<Double>> cpuRatios = new EnumMap<>(Observers.class);
            final Map<Observers, List<Double>> cpuRates = new EnumMap<>(Observers.class);
            for (Observers o : kinds) {
                ratios.put(o, new ArrayList<>());
                rates.put(o, new ArrayList<>());
                cpuRatios.put(o, new ArrayList<>());
                cpuRates.put(o, new ArrayList<>());
            }
            for (int r = 0; r < warmup + rounds; r++) {
                final Map<Observers, Double> rate = new EnumMap<>(Observers.class);
                final Map<Observers, Double> cpuRate = new EnumMap<>(Observers.class);
                for (int k = 0; k < kinds.length; k++) {
                    final Observers o = kinds[(r + k) % kinds.length];
                    final double[] d = drive(pipelines.get(o), slice);
                    rate.put(o, d[0]);
                    cpuRate.put(o, d[1]);
                }
                if (r >= warmup) {
                    for (Observers o : kinds) {
                        rates.get(o).add(rate.get(o));
                        ratios.get(o).add(rate.get(o) / rate.get(Observers.NONE));
                        cpuRates.get(o).add(cpuRate.get(o));
                        cpuRatios.get(o).add(cpuRate.get(o) / cpuRate.get(Observers.NONE));
                    }
                }
            }
            System.out.printf(Locale.ROOT, "ObserverOverheadProbe: backend %s, %d rounds of %d ms per observer "
                    + "(after %d warm-up rounds), 64 calls in flight%n", backend, rounds, slice, warmup);
            for (Observers o : kinds) {
                final List<Double> q = ratios.get(o);
                final List<Double> v = rates.get(o);
                System.out.printf(Locale.ROOT, "  %-10s median %,10.0f calls/s (q1 %,10.0f, q3 %,10.0f); vs none: median "
                                + "%.3f (q1 %.3f, q3 %.3f)%n", o.name().toLowerCase(Locale.ROOT), quantile(v, 0.5),
                        quantile(v, 0.25), quantile(v, 0.75), quantile(q, 0.5), quantile(q, 0.25), quantile(q, 0.75));
                final List<Double> cq = cpuRatios.get(o);
                final List<Double> cv = cpuRates.get(o);
                System.out.printf(Locale.ROOT, "  %-10s median %,10.0f calls/CPU-s (q1 %,10.0f, q3 %,10.0f); vs none: median "
                                + "%.3f (q1 %.3f, q3 %.3f)%n", "", quantile(cv, 0.5), quantile(cv, 0.25),
                        quantile(cv, 0.75), quantile(cq, 0.5), quantile(cq, 0.25), quantile(cq, 0.75));
            }
        } finally {
            for (Observers o : kinds) {
                final Pipeline p = pipelines.get(o);
                if (p != null) {
                    p.drain();
                }
                final BraidFixture f = fixtures.get(o);
                if (f != null) {
                    f.close();
                }
            }
        }
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /** Calls per second and calls per CPU-second of this process, through {@code p} for about {@code millis}. */
    private static double[] drive(final Pipeline p, final long millis) {
        final long cpu = OS.getProcessCpuTime();
        final long start = System.nanoTime();
        final long end = start + millis * 1_000_000;
        long ops = 0;
        long now;
        do {
            for (int i = 0; i < 256; i++) {
                p.next();
            }
            ops += 256;
            now = System.nanoTime();
        } while (now < end);
        p.drain();
        final double wall = (System.nanoTime() - start) / 1e9;
        final double cpuSeconds = (OS.getProcessCpuTime() - cpu) / 1e9;
        return new double[] {ops / wall, ops / cpuSeconds};
    }

    private static double quantile(final List<Double> values, final double q) {
        final List<Double> s = new ArrayList<>(values);
        s.sort(null);
        final double pos = q * (s.size() - 1);
        final int i = (int) Math.floor(pos);
        final int j = Math.min(s.size() - 1, i + 1);
        return s.get(i) + (s.get(j) - s.get(i)) * (pos - i);
    }
}
