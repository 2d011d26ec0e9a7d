package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.tooling.Durations;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Soak of calls: several connections, many callers each, random payload sizes, every reply checked, for a
 * set duration. Verdict: no failed or corrupted call, no buffer outstanding at the end, heap and pool flat.
 */
@Command(name = "calls", mixinStandardHelpOptions = true,
        description = "Concurrent calls on several connections for --duration; checks every reply.")
final class CallsScenario implements Callable<Integer> {
    static final Procedure CHECKSUM = Procedure.of(0x73747273, 1, 1); // "strs"

    @Option(names = "--duration", description = "How long to run, e.g. 30s, 5m (default: ${DEFAULT-VALUE}).")
    String duration = "30s";

    @Option(names = "--connections", description = "Client connections (default: ${DEFAULT-VALUE}).")
    int connections = 4;

    @Option(names = "--callers", description = "Calling threads per connection (default: ${DEFAULT-VALUE}).")
    int callers = 32;

    @Option(names = "--max-payload", description = "Largest payload in bytes (default: ${DEFAULT-VALUE}).")
    int maxPayload = 16_384;

    @Override
    public Integer call() throws Exception {
        final Duration d = Durations.parse(duration);
        final Recorder recorder = new Recorder(3);
        final AtomicLong ok = new AtomicLong();
        final AtomicLong bad = new AtomicLong();
        final java.util.concurrent.atomic.AtomicReference<String> firstError = new java.util.concurrent.atomic.AtomicReference<>();
        try (Braid braid = Braid.create(new BraidConfig())) {
            final BraidServer server = braid.server().handle(CHECKSUM, call -> {
                final ByteBuffer a = call.args();
                long sum = 0;
                while (a.hasRemaining()) {
                    sum = sum * 31 + a.get();
                }
                call.reply(ByteBuffer.allocate(8).putLong(0, sum));
            }).bind(0);
            final List<Connection> conns = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                conns.add(braid.connect(server.address()));
            }
            System.out.printf(Locale.ROOT, "calls scenario: backend %s, %d connections x %d callers, %s%n",
                    braid.backendName(), connections, callers, d);
            final long end = System.nanoTime() + d.toNanos();
            final List<Thread> threads = new ArrayList<>();
            for (Connection c : conns) {
                for (int t = 0; t < callers; t++) {
                    threads.add(Thread.ofVirtual().start(() -> {
                        final ThreadLocalRandom r = ThreadLocalRandom.current();
                        while (System.nanoTime() < end) {
                            final byte[] p = new byte[r.nextInt(maxPayload + 1)];
                            r.nextBytes(p);
                            long sum = 0;
                            for (byte b : p) {
                                sum = sum * 31 + b;
                            }
                            final long t0 = System.nanoTime();
                            try (Reply reply = c.callAsync(CHECKSUM, ByteBuffer.wrap(p), CallOptions.DEFAULT).get()) {
                                recorder.recordValue(System.nanoTime() - t0);
                                if (reply.payload().getLong(0) == sum) {
                                    ok.incrementAndGet();
                                } else {
                                    bad.incrementAndGet();
                                }
                            } catch (Exception e) {
                                bad.incrementAndGet();
                                firstError.compareAndSet(null, e.toString());
                            }
                        }
                    }));
                }
            }
            Histogram interval = null;
            final Histogram total = new Histogram(3);
            long lastOk = 0;
            while (System.nanoTime() < end) {
                Thread.sleep(Math.min(5_000, Math.max(1, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime()))));
                interval = recorder.getIntervalHistogram(interval);
                total.add(interval);
                final Runtime rt = Runtime.getRuntime();
                System.out.printf(Locale.ROOT, "  %,10d calls/s  p99 %8.1f µs  heap %5d MiB  pool %6d KiB direct%n",
                        (ok.get() - lastOk) * 1_000_000_000L / Math.max(1, interval.getEndTimeStamp() - interval.getStartTimeStamp()) / 1_000_000,
                        interval.getValueAtPercentile(99) / 1000.0, (rt.totalMemory() - rt.freeMemory()) >> 20,
                        braid.bufferPool().allocatedBytes() >> 10);
                lastOk = ok.get();
            }
            for (Thread t : threads) {
                t.join();
            }
            for (Connection c : conns) {
                c.close();
            }
            server.close();
            total.add(recorder.getIntervalHistogram());
            System.out.printf(Locale.ROOT, "calls %d ok, %d failed; latency µs p50 %.1f p99 %.1f p99.9 %.1f max %.1f%n",
                    ok.get(), bad.get(), total.getValueAtPercentile(50) / 1000.0, total.getValueAtPercentile(99) / 1000.0,
                    total.getValueAtPercentile(99.9) / 1000.0, total.getMaxValue() / 1000.0);
            final long outstanding = Threads.awaitNoOutstanding(braid.bufferPool(), Duration.ofSeconds(10));
            return new Verdict(System.out)
                    .check(ok.get() > 0 && bad.get() == 0, String.format(Locale.ROOT,
                            "calls intact %,d, failed or corrupted %d (bound: > 0 intact, 0 failed)%s", ok.get(), bad.get(),
                            firstError.get() == null ? "" : "; first failure: " + firstError.get()))
                    .check(outstanding == 0, "pooled buffers outstanding at the end " + outstanding + ", must be 0")
                    .conclude(String.format(Locale.ROOT, "%,d calls intact, no buffer outstanding", ok.get()));
        }
    }
}
