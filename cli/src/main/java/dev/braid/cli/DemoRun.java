package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.StreamListener;
import dev.braid.StreamOptions;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * One backend's turn of the demo. A braid server ({@link DemoServers}: non-blocking handler and stream
 * listeners on its I/O thread) in a JVM of its own ({@link DemoServerProcess}) unless asked otherwise, and
 * a client in this JVM, connected over loopback by one connection:
 * <ol>
 *   <li>warm-up: calls, not measured;</li>
 *   <li>phase 1, "calls alone": {@code concurrency} threads each make {@value #PAYLOAD_DEFAULT}-byte echo
 *       calls back to back with the allocation-free {@link Connection#call(Procedure, ByteBuffer, ByteBuffer,
 *       CallOptions)}, answered by a {@link HandlerMode#NON_BLOCKING} handler on the server's I/O thread;</li>
 *   <li>phase 2, "beside N streams": the same calls while N streams on the same connection move data as fast
 *       as they can, half uploads (client writes, server discards) and half downloads (server writes, client
 *       discards). The client's ends have a platform thread each with blocking writes and reads (as an
 *       application's would, and as the JMH suite's fairness benchmark does), or a virtual thread each, or are
 *       non-blocking {@link StreamListener}s on the client's I/O thread ({@code --client-streams}). The streams
 *       run for the warm-up's length (at least half a second) before measuring starts.</li>
 * </ol>
 * Latency is each call's round trip as the calling thread saw it (closed loop: a call starts when the
 * previous one returned, so no coordinated-omission correction applies). {@link DemoRaw} measures the
 * machine's floor the same way with plain sockets, through {@link #measure}.
 *
 * <p>Threads: {@link #run} is called once, from one thread, which also drives the {@link DemoProgress}. The
 * callers are platform threads ({@code demo-caller-N}); the client's stream pumps, unless they are listeners,
 * are platform or virtual threads ({@code demo-upload-N}, {@code demo-download-N}); all are joined before
 * {@link #run} returns.
 */
final class DemoRun {
    static final Procedure ECHO = Procedure.of(0x62726465, 1, 1); // "brde": the demo's program
    static final Procedure UPLOAD = Procedure.of(0x62726465, 1, 2);
    static final Procedure DOWNLOAD = Procedure.of(0x62726465, 1, 3);
    static final int PAYLOAD_DEFAULT = 64;
    /** Bytes per stream write or read, on both sides. */
    static final int CHUNK = 256 * 1024;
    /**
     * The least the streams run before phase 2 is measured (at least the warm-up, so the stream path is
     * compiled, as the call path is, before anything is measured: on 2 CPUs a C2 compile during the phase
     * shows in its tail).
     */
    static final Duration STREAM_RAMP = Duration.ofMillis(500);
    static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);
    /** {@link Settings#clientStreams()}: a platform thread per stream, blocking writes and reads. */
    static final String PLATFORM = "platform";
    /** A virtual thread per stream, blocking writes and reads. */
    static final String VIRTUAL = "virtual";
    /** Non-blocking listeners on the client's I/O thread, no thread per stream. */
    static final String LISTENER = "listener";
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /**
     * What the command asked for.
     *
     * @param serverProcess the server runs in a JVM of its own (the default) rather than in this one
     * @param clientStreams how the client's stream ends run: {@link #PLATFORM} or {@link #VIRTUAL} (a thread
     *                      each, blocking writes and reads) or {@link #LISTENER} (non-blocking, on the
     *                      client's I/O thread)
     */
    record Settings(Duration warmup, Duration phase, int streams, int payload, int concurrency,
                    boolean serverProcess, String clientStreams) {
        int uploads() {
            return (streams + 1) / 2;
        }

        int downloads() {
            return streams / 2;
        }
    }

    /**
     * One measured phase.
     *
     * @param latency   every call's round trip, nanoseconds
     * @param upBytes   stream bytes the client wrote during the measured window (0 in phase 1)
     * @param downBytes stream bytes the client read during the measured window
     */
    record Phase(String name, long calls, long nanos, Histogram latency, long upBytes, long downBytes) {
        double seconds() {
            return nanos / 1e9;
        }

        double callsPerSecond() {
            return calls / seconds();
        }

        double streamMegabytesPerSecond() {
            return (upBytes + downBytes) / 1e6 / seconds();
        }
    }

    /**
     * A backend's whole turn; {@code outstanding} counts pooled buffers left in both runtimes after close
     * (-1 if the server process did not say).
     */
    record Result(String backend, Phase alone, Phase beside, long outstanding) {
    }

    /** One calling thread's round trip, made once per call; closed when the phase ends. */
    interface RoundTrip extends AutoCloseable {
        /** One call; returns false if the echo came back altered. */
        boolean call() throws Exception;

        @Override
        default void close() throws IOException {
        }
    }

    /** Creates the round trip of calling thread {@code index} (on that thread). */
    interface RoundTrips {
        RoundTrip open(int index) throws Exception;
    }

    private final String backend;
    private final Settings settings;
    private final DemoProgress progress;

    /** Null: plaintext; else the throwaway certificates the run's connection uses. */
    private final DemoTls tls;

    DemoRun(final String backend, final Settings settings, final DemoProgress progress) {
        this(backend, settings, progress, null);
    }

    DemoRun(final String backend, final Settings settings, final DemoProgress progress, final DemoTls tls) {
        this.backend = backend;
        this.settings = settings;
        this.progress = progress;
        this.tls = tls;
    }

    /**
     * Runs the warm-up and both phases; closes everything it opened whether or not it succeeds.
     *
     * @throws BraidException CONFIG / BACKEND_UNAVAILABLE if the backend cannot be used, or whatever failed
     */
    Result run() throws InterruptedException, IOException {
        if (settings.serverProcess()) {
            // fail here, with braid's message, if the backend cannot run: the child would only say it died
            Braid.create(new BraidConfig().backend(backend)).close();
            final DemoServerProcess server = DemoServerProcess.start(backend, false, tls);
            try (server) {
                final Client c = client(server.backend, server.braid, "a separate JVM");
                final long serverOutstanding = server.closeAndCount();
                return new Result(c.name, c.alone, c.beside,
                        serverOutstanding < 0 ? -1 : c.outstanding + serverOutstanding);
            }
        }
        final DemoServers server = DemoServers.start(backend, false,
                tls == null ? null : tls.serverOptions());
        Client c = null;
        try {
            c = client(server.backendName(), server.server.address(), "this JVM");
        } finally {
            final long serverOutstanding = server.closeAndCount();
            if (c != null) {
                c = new Client(c.name, c.alone, c.beside, c.outstanding + serverOutstanding);
            }
        }
        return new Result(c.name, c.alone, c.beside, c.outstanding);
    }

    private record Client(String name, Phase alone, Phase beside, long outstanding) {
    }

    /** The client's side of a turn: its own runtime on the server's backend, one connection, both phases. */
    private Client client(final String serverBackend, final InetSocketAddress address, final String where)
            throws InterruptedException {
        final Phase alone;
        final Phase beside;
        final Braid clientBraid = Braid.create(new BraidConfig().backend(serverBackend) // auto chose once, there
                .tls(tls == null ? null : tls.client));
        final String name = clientBraid.backendName() + (tls == null ? "" : "+tls");
        try (clientBraid; Connection c = clientBraid.connect(address)) {
            progress.note(String.format(Locale.ROOT, "[%s] server %s in %s, one connection; %d-byte echo calls, "
                            + "%d in flight; streams: %s", name, address, where, settings.payload(),
                    settings.concurrency(), describe(settings.clientStreams())));
            if (!settings.warmup().isZero()) {
                braidCalls(c, "[" + name + "] warm-up", settings.warmup(), List.of(), List.of());
            }
            alone = braidCalls(c, "[" + name + "] calls alone", settings.phase(), List.of(), List.of());
            beside = besideStreams(c, name);
        }
        awaitReleased(clientBraid);
        return new Client(name, alone, beside, clientBraid.bufferPool().outstanding());
    }

    static String describe(final String clientStreams) {
        return switch (clientStreams) {
            case LISTENER -> "non-blocking listeners on the client's I/O thread";
            case VIRTUAL -> "a virtual thread each on the client (blocking writes and reads)";
            default -> "a platform thread each on the client (blocking writes and reads)";
        };
    }

    static String phase2Name(final int streams) {
        return "beside " + streams + (streams == 1 ? " stream" : " streams");
    }

    private Phase besideStreams(final Connection c, final String name) throws InterruptedException {
        final List<BraidStream> ups = new ArrayList<>();
        final List<BraidStream> downs = new ArrayList<>();
        final List<Thread> pumps = new ArrayList<>();
        final StreamEnds state = new StreamEnds();
        final Phase phase;
        try {
            for (int i = 0; i < settings.streams(); i++) {
                final boolean up = i % 2 == 0;
                final BraidStream s = c.openStream(up ? UPLOAD : DOWNLOAD, EMPTY,
                        StreamOptions.waitForSlot(Duration.ofSeconds(10)));
                (up ? ups : downs).add(s);
                if (LISTENER.equals(settings.clientStreams())) {
                    s.setListener(up ? state.new Uploader() : state.new Downloader());
                } else {
                    final Thread.Builder b = VIRTUAL.equals(settings.clientStreams()) ? Thread.ofVirtual()
                            : Thread.ofPlatform().daemon();
                    pumps.add(b.name((up ? "demo-upload-" : "demo-download-") + i)
                            .start(up ? () -> state.upload(s) : () -> state.download(s)));
                }
            }
            Thread.sleep(Math.max(STREAM_RAMP.toMillis(), settings.warmup().toMillis()));
            state.check();
            phase = braidCalls(c, "[" + name + "] " + phase2Name(settings.streams()), settings.phase(), ups, downs);
        } finally { // also when the phase failed: its exception goes on, these only clean up
            state.stopping = true;
            for (BraidStream s : ups) {
                s.abort("demo phase over");
            }
            for (BraidStream s : downs) {
                s.abort("demo phase over");
            }
            for (Thread t : pumps) {
                if (!t.join(Duration.ofSeconds(10))) {
                    state.failure.compareAndSet(null, new IllegalStateException("stream pump " + t.getName()
                            + " did not stop within 10 s of its stream's abort"));
                }
            }
        }
        state.check(); // a stream that failed during the phase fails the phase
        return phase;
    }

    private Phase braidCalls(final Connection c, final String label, final Duration d, final List<BraidStream> ups,
                             final List<BraidStream> downs) throws InterruptedException {
        final int payload = settings.payload();
        return measure(progress, label, d, settings.concurrency(), i -> new BraidRoundTrip(c, payload),
                () -> {
                    final var s = c.stats();
                    return s.bytesRead() + s.bytesWritten();
                }, () -> written(ups), () -> read(downs));
    }

    /**
     * Runs {@code concurrency} calling threads for {@code d}, reporting progress; returns the merged
     * latencies and the stream bytes {@code up} and {@code down} counted over the window.
     */
    static Phase measure(final DemoProgress progress, final String label, final Duration d, final int concurrency,
                         final RoundTrips trips, final LongSupplier socketBytes, final LongSupplier up,
                         final LongSupplier down) throws InterruptedException {
        final Callers callers = new Callers(trips);
        final long bytes0 = socketBytes.getAsLong();
        final long up0 = up.getAsLong();
        final long down0 = down.getAsLong();
        final long start = System.nanoTime();
        final long total = d.toNanos();
        final List<Thread> threads = new ArrayList<>();
        final List<Histogram> histograms = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            final Histogram h = new Histogram(HIGHEST_NANOS, 3);
            histograms.add(h);
            final int index = i;
            threads.add(Thread.ofPlatform().name("demo-caller-" + i).daemon().start(() -> callers.loop(index, h)));
        }
        long now;
        while ((now = System.nanoTime()) - start < total && callers.failure.get() == null) {
            Thread.sleep(Math.max(1, Math.min(progress.intervalNanos(), total - (now - start)) / 1_000_000));
            progress.update(label, Math.min(System.nanoTime() - start, total), total, callers.count.sum(),
                    socketBytes.getAsLong() - bytes0);
        }
        callers.stop = true;
        for (Thread t : threads) {
            if (!t.join(Duration.ofSeconds(30))) {
                throw new IllegalStateException("caller " + t.getName() + " did not return within 30 s");
            }
        }
        final long elapsed = System.nanoTime() - start;
        final long upBytes = up.getAsLong() - up0;
        final long downBytes = down.getAsLong() - down0;
        progress.finish(label, elapsed, total, callers.count.sum(), socketBytes.getAsLong() - bytes0);
        final Throwable failure = callers.failure.get();
        if (failure instanceof RuntimeException r) {
            throw r;
        } else if (failure != null) {
            throw new IllegalStateException(failure.toString(), failure);
        }
        if (callers.badEchoes.sum() != 0) {
            throw new IllegalStateException(callers.badEchoes.sum() + " echo replies came back altered");
        }
        final Histogram merged = new Histogram(HIGHEST_NANOS, 3);
        histograms.forEach(merged::add);
        final String name = label.substring(label.indexOf(']') + 2);
        return new Phase(name, merged.getTotalCount(), elapsed, merged, upBytes, downBytes);
    }

    private static long written(final List<BraidStream> streams) {
        long n = 0;
        for (BraidStream s : streams) {
            n += s.bytesWritten();
        }
        return n;
    }

    private static long read(final List<BraidStream> streams) {
        long n = 0;
        for (BraidStream s : streams) {
            n += s.bytesRead();
        }
        return n;
    }

    /** Waits (up to 5 s) for buffers released on I/O threads after the close to come home. */
    private static void awaitReleased(final Braid braid) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (braid.bufferPool().outstanding() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    /** The pattern every echo payload carries (the same for braid and raw). */
    static ByteBuffer payload(final int n) {
        final ByteBuffer b = ByteBuffer.allocateDirect(n);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) (i * 31 + 7));
        }
        return b;
    }

    /** A braid call, allocation-free: the arguments and the reply live in this thread's buffers. */
    private static final class BraidRoundTrip implements RoundTrip {
        private final Connection c;
        private final ByteBuffer args;
        private final ByteBuffer reply;

        BraidRoundTrip(final Connection c, final int payload) {
            this.c = c;
            this.args = payload(payload);
            this.reply = ByteBuffer.allocateDirect(Math.max(payload, 1));
        }

        @Override
        public boolean call() {
            reply.clear();
            final int n = c.call(ECHO, args, reply, CallOptions.DEFAULT);
            return n == args.capacity() && reply.flip().equals(args);
        }
    }

    /**
     * The calling threads of one phase. Each thread owns its round trip and its histogram; {@link #stop} is
     * written by the phase's thread and read by the callers (volatile); the counters are thread-safe adders.
     */
    private static final class Callers {
        private final RoundTrips trips;
        final LongAdder count = new LongAdder();
        final LongAdder badEchoes = new LongAdder();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile boolean stop;

        Callers(final RoundTrips trips) {
            this.trips = trips;
        }

        void loop(final int index, final Histogram h) {
            try (RoundTrip trip = trips.open(index)) {
                while (!stop) {
                    final long t0 = System.nanoTime();
                    final boolean ok = trip.call();
                    h.recordValue(Math.min(System.nanoTime() - t0, HIGHEST_NANOS));
                    count.increment();
                    if (!ok) {
                        badEchoes.increment();
                    }
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }
    }

    /**
     * The client ends of phase 2's streams: non-blocking listeners on the client's I/O thread (the default),
     * or pump threads that write (upload) or read (download) as fast as their stream allows. Either runs
     * until {@link #stopping} is set and the stream aborted; an exception before that is the phase's failure.
     */
    private static final class StreamEnds {
        volatile boolean stopping;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        /** Writes {@link #CHUNK}-byte chunks for as long as the stream takes them; onWritable resumes it. */
        final class Uploader implements StreamListener {
            private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);

            @Override
            public void onWritable(final BraidStream s) {
                try {
                    while (!stopping) {
                        if (!chunk.hasRemaining()) {
                            chunk.clear();
                        }
                        if (s.tryWrite(chunk) == BraidStream.WOULD_BLOCK) {
                            return;
                        }
                    }
                } catch (RuntimeException e) {
                    fail(s, e);
                }
            }

            @Override
            public void onError(final BraidStream s, final BraidException error) {
                fail(s, error);
            }
        }

        /** Reads and discards whatever arrives; onReadable resumes it. */
        final class Downloader implements StreamListener {
            private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);

            @Override
            public void onReadable(final BraidStream s) {
                try {
                    int n;
                    while (!stopping && (n = s.tryRead(chunk.clear())) != BraidStream.WOULD_BLOCK) {
                        if (n < 0) {
                            throw new IllegalStateException("download stream " + s.serial() + " ended early");
                        }
                    }
                } catch (RuntimeException e) {
                    fail(s, e);
                }
            }

            @Override
            public void onError(final BraidStream s, final BraidException error) {
                fail(s, error);
            }
        }

        void upload(final BraidStream s) {
            final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
            try {
                while (!stopping) {
                    s.write(chunk.clear());
                }
            } catch (Throwable e) {
                fail(s, e);
            }
        }

        void download(final BraidStream s) {
            final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
            try {
                while (!stopping) {
                    if (s.read(chunk.clear()) < 0) {
                        throw new IllegalStateException("download stream " + s.serial() + " ended early");
                    }
                }
            } catch (Throwable e) {
                fail(s, e);
            }
        }

        private void fail(final BraidStream s, final Throwable e) {
            if (!stopping) {
                failure.compareAndSet(null, new IllegalStateException("demo stream " + s.serial() + " ("
                        + s.procedure() + ") failed: " + e.getMessage(), e));
            }
        }

        void check() {
            final Throwable e = failure.get();
            if (e != null) {
                throw (RuntimeException) e;
            }
        }
    }
}
