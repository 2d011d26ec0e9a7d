package dev.braid.stress;

import dev.braid.tooling.Durations;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.PrivateNetns;
import dev.braid.stress.link.TcpProbe;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The link emulator checked against its own settings, in each form: a plain TCP download through it reaches the
 * configured rate, a ping-pong shows the configured round trip (never less), a rate change mid-transfer takes
 * effect, jitter spreads the round trips without making any shorter than the delay, and (relay) no line ever
 * held more than its cap. The rate and round-trip figures are timing figures: on a loaded machine the emulator's
 * own threads may not be scheduled in time, which shows as a lower rate or a longer round trip (never a higher
 * rate or a shorter round trip, which would be a bug: those bounds are tight).
 */
@Command(name = "link-check", mixinStandardHelpOptions = true,
        description = "Checks the link emulator itself: rate, round trip, rate change, jitter, bounded holding.")
final class LinkCheckScenario implements Callable<Integer> {
    @Option(names = "--rtt", description = "Round trip (default: ${DEFAULT-VALUE}).")
    String rtt = "20ms";

    @Option(names = "--rate", description = "Rate each way (default: ${DEFAULT-VALUE}).")
    String rate = "125MB/s";

    @Option(names = "--forms", split = ",", description = "relay, ns (default: ${DEFAULT-VALUE}).")
    List<String> forms = List.of("relay", "ns");

    @Option(names = "--mtu", description = "MTU of the namespace form (default: ${DEFAULT-VALUE}).")
    int mtu = 9000;

    @Option(names = "--warmup", description = "Download warm-up (default: ${DEFAULT-VALUE}).")
    String warmup = "1s";

    @Option(names = "--duration", description = "Measured download (default: ${DEFAULT-VALUE}).")
    String duration = "3s";

    @Option(names = "--pings", description = "Ping-pongs (default: ${DEFAULT-VALUE}).")
    int pings = 50;

    @Option(names = "--jitter", description = "Jitter of the jitter check (default: ${DEFAULT-VALUE}).")
    String jitter = "4ms";

    @Option(names = "--min-rate-ratio", description = "Bound: measured / configured rate at least (default: ${DEFAULT-VALUE}).")
    double minRateRatio = 0.85;

    @Option(names = "--max-rate-ratio", description = "Bound: measured / configured rate at most (default: ${DEFAULT-VALUE}).")
    double maxRateRatio = 1.02;

    @Option(names = "--rtt-slack", description = "Bound: ping-pong p50 at most the round trip + this (default: ${DEFAULT-VALUE}).")
    String rttSlack = "2ms";

    @Option(names = "--min-jitter-spread", description = "Bound: the pings' p10..p90 spread with jitter at least this "
            + "share of the jitter (default: ${DEFAULT-VALUE}).")
    double minJitterSpread = 0.25;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        List<String> run = forms;
        if (forms.contains("ns") && !PrivateNetns.isPrivate()) {
            final String cause = PrivateNetns.unavailabilityCause();
            if (cause == null) {
                out.println("link-check: starting again in a private network namespace (the namespace form needs one)");
                return PrivateNetns.relaunch(StressMain.class.getName(), List.of("link-check", "--rtt=" + rtt,
                        "--rate=" + rate, "--forms=" + String.join(",", forms), "--mtu=" + mtu, "--warmup=" + warmup,
                        "--duration=" + duration, "--pings=" + pings, "--jitter=" + jitter,
                        "--min-rate-ratio=" + minRateRatio, "--max-rate-ratio=" + maxRateRatio,
                        "--rtt-slack=" + rttSlack, "--min-jitter-spread=" + minJitterSpread), Duration.ofMinutes(30));
            }
            out.println("link-check: namespace form skipped: " + cause);
            run = forms.stream().filter(f -> !f.equals("ns")).toList();
        } else if (PrivateNetns.isPrivate()) {
            PrivateNetns.loopbackUp();
        }
        final long bytesPerSecond = LinkSpec.parseRate(rate);
        final LinkSpec spec = LinkSpec.of(Durations.parse(rtt), bytesPerSecond);
        final Duration warm = Durations.parse(warmup);
        final Duration measure = Durations.parse(duration);
        final double rttMs = spec.rtt().toNanos() / 1e6;
        final double slackMs = Durations.parse(rttSlack).toNanos() / 1e6;
        final Verdict verdict = new Verdict(out);
        final List<String> summary = new ArrayList<>();
        for (String form : run) {
            out.printf(Locale.ROOT, "%n[%s] link: %s%n", form, spec.describe());
            // rate and round trip
            try (WanLink link = link(form, spec); TcpProbe probe = TcpProbe.listen(link.bindAddress())) {
                final InetSocketAddress front = link.front(probe.address());
                final double got = TcpProbe.downloadRate(front, warm, measure);
                final double ratio = got / bytesPerSecond;
                verdict.check(ratio >= minRateRatio && ratio <= maxRateRatio, String.format(Locale.ROOT,
                        "[%s] plain TCP download %.1f MB/s / configured %.1f MB/s = %.3f (bounds %.2f..%.2f); link "
                                + "dropped %s", form, got / 1e6, bytesPerSecond / 1e6, ratio, minRateRatio, maxRateRatio,
                        Memory.mib(link.dropped())));
                final Histogram h = pings(front);
                final double min = h.getMinValue() / 1e6;
                final double p50 = h.getValueAtPercentile(50) / 1e6;
                verdict.check(min >= rttMs && p50 <= rttMs + slackMs, String.format(Locale.ROOT,
                        "[%s] ping-pong (64 B, %d): min %.2f ms, p50 %.2f ms, p99 %.2f ms (bounds: min >= %.1f ms, "
                                + "p50 <= %.1f ms)", form, h.getTotalCount(), min, p50, h.getValueAtPercentile(99) / 1e6,
                        rttMs, rttMs + slackMs));
                summary.add(String.format(Locale.ROOT, "%s: %.3f x rate, rtt p50 %.2f ms", form, ratio, p50));
                verdict.check(link.peakHeld() <= link.capBytes(), String.format(Locale.ROOT,
                        "[%s] most any line held %s (bound <= its cap %s: buffer + rate x delay + one chunk)", form,
                        Memory.mib(link.peakHeld()), Memory.mib(link.capBytes())));
            }
            // a rate change mid-transfer
            try (WanLink link = link(form, spec); TcpProbe probe = TcpProbe.listen(link.bindAddress())) {
                final InetSocketAddress front = link.front(probe.address());
                final long half = bytesPerSecond / 2;
                final long total = warm.plus(measure).toNanos();
                final long t0 = System.nanoTime();
                final AtomicLong changed = new AtomicLong();
                final AtomicLong atChange = new AtomicLong();
                final AtomicLong from = new AtomicLong();
                final AtomicLong fromBytes = new AtomicLong();
                final long lastBytes = TcpProbe.download(front, warm.plus(measure).plus(measure), bytes -> {
                    final long now = System.nanoTime();
                    if (changed.get() == 0 && now - t0 >= total / 2) {
                        link.controls().forEach(c -> c.setRate(half));
                        changed.set(now);
                        atChange.set(bytes);
                    }
                    if (changed.get() != 0 && from.get() == 0 && now - changed.get() >= warm.toNanos()) {
                        from.set(now);
                        fromBytes.set(bytes);
                    }
                });
                final double after = from.get() == 0 ? 0
                        : (lastBytes - fromBytes.get()) / ((System.nanoTime() - from.get()) / 1e9);
                final double ratio = after / half;
                verdict.check(ratio >= minRateRatio && ratio <= maxRateRatio, String.format(Locale.ROOT,
                        "[%s] rate changed to %.1f MB/s mid-transfer: %.1f MB/s after it (from %s later) = %.3f "
                                + "(bounds %.2f..%.2f)", form, half / 1e6, after / 1e6, Durations.format(warm), ratio,
                        minRateRatio, maxRateRatio));
            }
            // jitter
            final Duration j = Durations.parse(jitter);
            try (WanLink link = link(form, spec.withJitter(j)); TcpProbe probe = TcpProbe.listen(link.bindAddress())) {
                final Histogram h = pings(link.front(probe.address()));
                final double min = h.getMinValue() / 1e6;
                final double spread = (h.getValueAtPercentile(90) - h.getValueAtPercentile(10)) / 1e6;
                final double minSpread = j.toNanos() / 1e6 * minJitterSpread;
                verdict.check(min >= rttMs && spread >= minSpread, String.format(Locale.ROOT,
                        "[%s] jitter %s: ping min %.2f ms, p10..p90 spread %.2f ms (bounds: min >= %.1f ms, spread >= "
                                + "%.2f x jitter = %.2f ms)", form, Durations.format(j), min, spread, rttMs,
                        minJitterSpread, minSpread));
            }
        }
        return verdict.conclude(String.join("; ", summary));
    }

    private WanLink link(final String form, final LinkSpec spec) throws java.io.IOException {
        return form.equals("ns") ? WanLink.namespace(spec, mtu, null) : WanLink.relay(spec);
    }

    private Histogram pings(final InetSocketAddress front) throws java.io.IOException {
        final Histogram h = new Histogram(3_600_000_000_000L, 3);
        final int[] seen = {0};
        TcpProbe.pingPong(front, pings + 1, 64, rtt -> {
            if (seen[0]++ > 0) { // the first one carries the service byte
                h.recordValue(rtt);
            }
        });
        return h;
    }
}
