package dev.braid.jmh;

import dev.braid.BraidStream;
import dev.braid.CallOptions;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Bytes allocated per operation by each thread, on braid's call and stream paths, measured with
 * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} around a steady-state loop. Unlike JMH's
 * {@code -prof gc}, which divides everything the JVM allocated (harness and profiler included) by the
 * operations, this names the thread that allocates, so braid's own threads are seen alone.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp jmh/target/benchmarks.jar dev.braid.jmh.AllocationProbe [backend] [ops] [observer]</pre>
 *
 * {@code observer}: {@code none} (default), {@code counting} (a {@code BraidObserver} that counts calls: what
 * the observer hooks cost) or {@code micrometer} (the {@code braid-micrometer} binding), on both runtimes.
 *
 * Same fixture as the benchmarks: a server and a client {@code Braid} on loopback, a non-blocking echo
 * handler, non-blocking stream handlers. Each path first runs {@code ops} operations to warm up (the JIT
 * removes allocations only once it has compiled a path), then {@code ops} measured ones.
 */
public final class AllocationProbe {
    private AllocationProbe() {
    }

    public static void main(final String[] args) throws Exception {
        final String backend = args.length > 0 ? args[0] : "nio";
        final int ops = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
        final Observers observer = args.length > 2 ? Observers.valueOf(args[2].toUpperCase(Locale.ROOT)) : Observers.NONE;
        try (BraidFixture f = new BraidFixture(backend, observer)) {
            System.out.printf(Locale.ROOT, "AllocationProbe: backend %s, observer %s, %,d warm-up + %,d measured operations"
                    + " per path%n", f.connection.backendName(), observer.name().toLowerCase(Locale.ROOT), ops, ops);
            final ByteBuffer args0 = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
            final ByteBuffer reply = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
            measure("call round trip (blocking call into a buffer)", ops,
                    () -> f.connection.call(BraidFixture.ECHO, args0.clear(), reply.clear(), CallOptions.DEFAULT));
            final Pipeline window = new Pipeline(f.connection, 64); // the JMH benchmark's window, no allocation of its own
            measure("pipelined calls (64 in flight, ReplyHandler)", ops, window::next);
            window.drain();
            final Sample request = new Sample();
            final Sample replyInto = new Sample();
            measure("typed call round trip (blocking, XDR struct decoded into the caller's object)", ops, () -> {
                request.value++;
                f.connection.call(BraidFixture.TYPED, request, replyInto, CallOptions.DEFAULT);
            });
            final TypedPipeline typed = new TypedPipeline(f.connection, 64);
            measure("typed pipelined calls (64 in flight, TypedReplyHandler with an attachment)", ops, typed::next);
            typed.drain();
            final ByteBuffer chunk = ByteBuffer.allocateDirect(BraidFixture.CHUNK);
            final BraidStream up = f.open(BraidFixture.SINK);
            measure("stream upload (256 KiB per operation)", ops / 10, () -> up.write(chunk.clear()));
            up.abort("probe over");
            final BraidStream down = f.open(BraidFixture.SOURCE);
            measure("stream download (256 KiB per operation)", ops / 10,
                    () -> BraidFixture.readFully(down, chunk.clear()));
            down.abort("probe over");
        }
    }

    private static void measure(final String what, final int ops, final Runnable op) {
        for (int i = 0; i < ops; i++) {
            op.run();
        }
        final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final Map<Long, Long> before = new HashMap<>();
        final Map<Long, String> names = new HashMap<>();
        for (ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (t != null) {
                before.put(t.getThreadId(), threads.getThreadAllocatedBytes(t.getThreadId()));
                names.put(t.getThreadId(), t.getThreadName());
            }
        }
        for (int i = 0; i < ops; i++) {
            op.run();
        }
        final Map<String, Long> after = new java.util.TreeMap<>();
        long braid = 0;
        for (Map.Entry<Long, Long> e : before.entrySet()) {
            final long now = threads.getThreadAllocatedBytes(e.getKey());
            final long d = now < 0 ? 0 : now - e.getValue();
            final String name = names.get(e.getKey());
            if (name.startsWith("braid-") || name.equals("main")) {
                after.put(name, d);
                braid += d;
            }
        }
        System.out.printf(Locale.ROOT, "%n%s: %.3f bytes per operation (braid's threads and the caller)%n", what,
                braid / (double) ops);
        after.forEach((name, d) -> System.out.printf(Locale.ROOT, "  %-28s %,12d bytes  %8.3f B/op%n", name, d,
                d / (double) ops));
    }
}
