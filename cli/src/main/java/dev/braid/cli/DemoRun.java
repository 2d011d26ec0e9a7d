package dev.braid.cli;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.StreamListener;
import dev.braid.StreamOptions;
import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * One backend's turn of the demo. A server and a client, each its own {@link Braid} runtime (own I/O
 * threads and buffer pool, as two processes would have), connected over loopback by one connection:
 * <ol>
 *   <li>warm-up: calls, not measured;</li>
 *   <li>phase 1, "calls alone": {@code concurrency} threads each make {@value #PAYLOAD_DEFAULT}-byte echo
 *       calls back to back with the allocation-free {@link Connection#call(Procedure, ByteBuffer, ByteBuffer,
 *       CallOptions)}, answered by a {@link HandlerMode#NON_BLOCKING} handler on the server's I/O thread;</li>
 *   <li>phase 2, "beside N streams": the same calls while N streams on the same connection move data as fast
 *       as they can, half uploads (client writes, server discards) and half downloads (server writes, client
 *       discards). The streams run for half a second before measuring starts.</li>
 * </ol>
 * Latency is each call's round trip as the calling thread saw it (closed loop: a call starts when the
 * previous one returned, so no coordinated-omission correction applies).
 *
 * <p>Threads: {@link #run} is called once, from one thread, which also drives the {@link DemoProgress}. The
 * callers are platform threads ({@code demo-caller-N}), the client's stream pumps virtual threads
 * ({@code demo-upload-N}, {@code demo-download-N}); all are joined before {@link #run} returns. The server's
 * stream ends use braid's non-blocking listeners on the server's I/O thread (no thread per stream).
 */
final class DemoRun {
    static final Procedure ECHO = Procedure.of(0x62726465, 1, 1); // "brde": the demo's program
    static final Procedure UPLOAD = Procedure.of(0x62726465, 1, 2);
    static final Procedure DOWNLOAD = Procedure.of(0x62726465, 1, 3);
    static final int PAYLOAD_DEFAULT = 64;
    /** Bytes per stream write or read, on both sides. */
    static final int CHUNK = 256 * 1024;
    /** How long the streams run before phase 2 is measured. */
    static final Duration STREAM_RAMP = Duration.ofMillis(500);
    private static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** What the command asked for. */
    record Settings(Duration warmup, Duration phase, int streams, int payload, int concurrency) {
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

    /** A backend's whole turn; {@code outstanding} counts pooled buffers left in both runtimes after close. */
    record Result(String backend, Phase alone, Phase beside, long outstanding) {
    }

    private final String backend;
    private final Settings settings;
    private final DemoProgress progress;

    DemoRun(final String backend, final Settings settings, final DemoProgress progress) {
        this.backend = backend;
        this.settings = settings;
        this.progress = progress;
    }

    /**
     * Runs the warm-up and both phases; closes everything it opened whether or not it succeeds.
     *
     * @throws BraidException CONFIG / BACKEND_UNAVAILABLE if the backend cannot be used, or whatever failed
     */
    Result run() throws InterruptedException {
        final String name;
        final Phase alone;
        final Phase beside;
        final Braid serverBraid = Braid.create(new BraidConfig().backend(backend));
        final Braid clientBraid;
        try {
            // auto chooses (and says why) once: the client takes the server's choice
            clientBraid = Braid.create(new BraidConfig().backend(
                    backend.trim().equalsIgnoreCase("auto") ? serverBraid.backendName() : backend));
        } catch (RuntimeException e) {
            serverBraid.close();
            throw e;
        }
        try (serverBraid; clientBraid) {
            name = clientBraid.backendName();
            final BraidServer server = serverBraid.server()
                    .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                    .stream(UPLOAD, (call, stream) -> {
                        call.reply(EMPTY);
                        stream.setListener(new DiscardingListener());
                    }, HandlerMode.NON_BLOCKING)
                    .stream(DOWNLOAD, (call, stream) -> {
                        call.reply(EMPTY);
                        stream.setListener(new WritingListener());
                    }, HandlerMode.NON_BLOCKING)
                    .bind(0);
            try (server; Connection c = clientBraid.connect(server.address())) {
                progress.note(String.format(Locale.ROOT, "[%s] server %s, one connection; %d-byte echo calls, "
                        + "%d in flight", name, server.address(), settings.payload(), settings.concurrency()));
                if (!settings.warmup().isZero()) {
                    calls(c, "[" + name + "] warm-up", settings.warmup(), List.of(), List.of());
                }
                alone = calls(c, "[" + name + "] calls alone", settings.phase(), List.of(), List.of());
                beside = besideStreams(c, name);
            }
            awaitReleased(clientBraid, serverBraid);
        }
        final long outstanding = clientBraid.bufferPool().outstanding() + serverBraid.bufferPool().outstanding();
        return new Result(name, alone, beside, outstanding);
    }

    private static String phase2Name(final int streams) {
        return "beside " + streams + (streams == 1 ? " stream" : " streams");
    }

    private Phase besideStreams(final Connection c, final String name) throws InterruptedException {
        final List<BraidStream> ups = new ArrayList<>();
        final List<BraidStream> downs = new ArrayList<>();
        final List<Thread> pumps = new ArrayList<>();
        final StreamPumps state = new StreamPumps();
        final Phase phase;
        try {
            for (int i = 0; i < settings.streams(); i++) {
                final boolean up = i % 2 == 0;
                final BraidStream s = c.openStream(up ? UPLOAD : DOWNLOAD, EMPTY,
                        StreamOptions.waitForSlot(Duration.ofSeconds(10)));
                (up ? ups : downs).add(s);
                pumps.add(Thread.ofVirtual().name((up ? "demo-upload-" : "demo-download-") + i)
                        .start(up ? () -> state.upload(s) : () -> state.download(s)));
            }
            Thread.sleep(STREAM_RAMP.toMillis());
            state.check();
            phase = calls(c, "[" + name + "] " + phase2Name(settings.streams()), settings.phase(), ups, downs);
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

    /**
     * Calls for {@code d}, reporting progress; returns the merged latencies. With streams given, their byte
     * counters are read at the start and the end.
     */
    private Phase calls(final Connection c, final String label, final Duration d, final List<BraidStream> ups,
                        final List<BraidStream> downs) throws InterruptedException {
        final Callers callers = new Callers(c, settings.payload());
        final long bytes0 = socketBytes(c);
        final long up0 = written(ups);
        final long down0 = read(downs);
        final long start = System.nanoTime();
        final long total = d.toNanos();
        final List<Thread> threads = new ArrayList<>();
        final List<Histogram> histograms = new ArrayList<>();
        for (int i = 0; i < settings.concurrency(); i++) {
            final Histogram h = new Histogram(HIGHEST_NANOS, 3);
            histograms.add(h);
            threads.add(Thread.ofPlatform().name("demo-caller-" + i).daemon().start(() -> callers.loop(h)));
        }
        long now;
        while ((now = System.nanoTime()) - start < total && callers.failure.get() == null) {
            Thread.sleep(Math.max(1, Math.min(progress.intervalNanos(), total - (now - start)) / 1_000_000));
            progress.update(label, Math.min(System.nanoTime() - start, total), total, callers.count.sum(),
                    socketBytes(c) - bytes0);
        }
        callers.stop = true;
        for (Thread t : threads) {
            if (!t.join(Duration.ofSeconds(30))) {
                throw new IllegalStateException("caller " + t.getName() + " did not return within 30 s");
            }
        }
        final long elapsed = System.nanoTime() - start;
        final long up = written(ups) - up0;
        final long down = read(downs) - down0;
        progress.finish(label, elapsed, total, callers.count.sum(), socketBytes(c) - bytes0);
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
        return new Phase(name, merged.getTotalCount(), elapsed, merged, up, down);
    }

    private static long socketBytes(final Connection c) {
        final var s = c.stats();
        return s.bytesRead() + s.bytesWritten();
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
    private static void awaitReleased(final Braid... braids) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (Braid b : braids) {
            while (b.bufferPool().outstanding() != 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        }
    }

    /**
     * The calling threads of one phase. Each thread owns its argument and reply buffers and its histogram;
     * {@link #stop} is written by the phase's thread and read by the callers (volatile); the counters are
     * thread-safe adders. The loop allocates nothing per call.
     */
    private static final class Callers {
        private final Connection c;
        private final int payload;
        final LongAdder count = new LongAdder();
        final LongAdder badEchoes = new LongAdder();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile boolean stop;

        Callers(final Connection c, final int payload) {
            this.c = c;
            this.payload = payload;
        }

        void loop(final Histogram h) {
            final ByteBuffer args = ByteBuffer.allocateDirect(payload);
            for (int i = 0; i < payload; i++) {
                args.put(i, (byte) (i * 31 + 7));
            }
            final ByteBuffer reply = ByteBuffer.allocateDirect(Math.max(payload, 1));
            try {
                while (!stop) {
                    reply.clear();
                    final long t0 = System.nanoTime();
                    final int n = c.call(ECHO, args, reply, CallOptions.DEFAULT);
                    h.recordValue(Math.min(System.nanoTime() - t0, HIGHEST_NANOS));
                    count.increment();
                    if (n != payload || !reply.flip().equals(args)) {
                        badEchoes.increment();
                    }
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }
    }

    /**
     * The client ends of phase 2's streams: each pump thread writes (upload) or reads (download) as fast as
     * its stream allows until {@link #stopping} is set and the stream aborted, which makes its blocked write
     * or read throw; an exception before that is the phase's failure.
     */
    private static final class StreamPumps {
        volatile boolean stopping;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

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

    /** Server end of an upload: reads and discards whatever arrives, on the server's I/O thread. */
    private static final class DiscardingListener implements StreamListener {
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);

        @Override
        public void onReadable(final BraidStream stream) {
            try {
                while (stream.tryRead(buffer.clear()) > 0) {
                    // discard
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the phase
            }
        }
    }

    /** Server end of a download: writes {@link #CHUNK}-byte chunks as long as the stream takes them. */
    private static final class WritingListener implements StreamListener {
        private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);

        @Override
        public void onWritable(final BraidStream stream) {
            try {
                while (true) {
                    if (!chunk.hasRemaining()) {
                        chunk.clear();
                    }
                    if (stream.tryWrite(chunk) == BraidStream.WOULD_BLOCK) {
                        return; // onWritable again when there is room
                    }
                }
            } catch (BraidException e) {
                // the client aborted it at the end of the phase
            }
        }
    }
}
