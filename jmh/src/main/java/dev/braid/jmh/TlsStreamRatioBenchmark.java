package dev.braid.jmh;

import dev.braid.BraidStream;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * One TLS stream against the JDK's own {@code SSLSocket} pump (and gRPC-java over TLS), <em>interleaved</em>:
 * each operation moves {@link #SEGMENT} bytes over braid's TLS stream ({@link TlsStreamBenchmark}'s fixture),
 * over a raw {@code SSLSocket} ({@link RawTlsStreamBenchmark}'s pair) and (with {@code grpc=true}) as 256 KiB
 * messages of a gRPC-java stream over TLS ({@link GrpcTlsStreamBenchmark}'s peer), one after another, timing
 * each. On a shared machine whose load moves during a run, separate benchmarks see different loads (errors
 * larger than the scores); segments milliseconds apart see the same one, so the ratio of the time counters is
 * stable where the separate scores are not. All three negotiate TLS 1.3 with {@code TLS_AES_256_GCM_SHA384} on
 * 127.0.0.1, both ends in this JVM.
 *
 * <p>Two things keep the peers' segments from paying for each other. Each peer's buffers hold data in flight
 * (braid's stream window, gRPC's flow-control window, the kernel's socket buffers: one to several MiB), which a
 * segment drains at its start and its sender refills after its end, on the CPUs the next segment uses; so a
 * segment is 32 MiB (with the 4 MiB of the first version, braid's download measured 0.85 of the pump's speed
 * and 0.74 of gRPC's, and with 32 MiB 1.01-1.07 and 1.20-1.22, same day, same machine) and the order rotates
 * ({@link Order}). {@code -Dbraid.jmh.segmentMiB=N} changes the segment.
 *
 * <p>Read the counters ({@code braidNanos}, {@code rawNanos}, {@code grpcNanos}: nanoseconds spent per
 * iteration): {@code rawNanos / braidNanos} is braid's throughput as a multiple of the raw pump's (issue 12 §5
 * asks for at least 0.9); {@code grpcNanos / braidNanos} the same against gRPC. Each peer's throughput is
 * {@code SEGMENT x ops / nanos}.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 2, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class TlsStreamRatioBenchmark {
    static final int CHUNK = 256 * 1024;
    /** Bytes each peer moves per operation, unless {@code -Dbraid.jmh.segmentMiB} says otherwise. */
    static final int SEGMENT = Integer.getInteger("braid.jmh.segmentMiB", 32) * 4 * CHUNK;

    /** Time spent by each peer in this iteration (JMH reports the sums per iteration). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Times {
        public long braidNanos;
        public long rawNanos;
        public long grpcNanos;

        @Setup(Level.Iteration)
        public void reset() {
            braidNanos = 0;
            rawNanos = 0;
            grpcNanos = 0;
        }
    }

    /** The three connections of one direction; the benchmark thread is their client. */
    @State(Scope.Thread)
    public abstract static class Peers {
        @Param({"nio", "epoll", "loom"})
        String backend;

        /** Whether gRPC-java takes part (the regression check leaves it out: braid against the JDK only). */
        @Param({"true"})
        boolean grpc;

        BraidFixture fixture;
        BraidStream stream;
        RawTlsStreamBenchmark.Pair raw;
        GrpcPeer grpcPeer;
        final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
        final byte[] bytes = GrpcPeer.pattern(CHUNK);

        abstract boolean upload();

        @Setup(Level.Trial)
        public void open() throws Exception {
            fixture = new BraidFixture(backend, true);
            stream = fixture.open(upload() ? BraidFixture.SINK : BraidFixture.SOURCE);
            raw = upload() ? new RawTlsStreamBenchmark.Upload() : new RawTlsStreamBenchmark.Download();
            raw.open();
            if (grpc) {
                grpcPeer = new GrpcPeer(true);
            }
            openGrpc();
        }

        abstract void openGrpc() throws InterruptedException;

        abstract void closeGrpc() throws InterruptedException;

        @TearDown(Level.Trial)
        public void close() throws Exception {
            try {
                stream.abort("benchmark over");
                fixture.close();
            } finally {
                try {
                    raw.close();
                } finally {
                    if (grpcPeer != null) {
                        try {
                            closeGrpc();
                        } finally {
                            grpcPeer.close();
                        }
                    }
                }
            }
        }
    }

    @State(Scope.Thread)
    public static class UploadPeers extends Peers {
        GrpcPeer.Upload grpcStream;

        @Override
        boolean upload() {
            return true;
        }

        @Override
        void openGrpc() throws InterruptedException {
            if (grpcPeer != null) {
                grpcStream = grpcPeer.upload();
            }
        }

        @Override
        void closeGrpc() throws InterruptedException {
            if (grpcStream != null) {
                grpcStream.close();
            }
        }
    }

    @State(Scope.Thread)
    public static class DownloadPeers extends Peers {
        GrpcPeer.Download grpcStream;

        @Override
        boolean upload() {
            return false;
        }

        @Override
        void openGrpc() {
            if (grpcPeer != null) {
                grpcStream = grpcPeer.download();
            }
        }

        @Override
        void closeGrpc() {
            if (grpcStream != null) {
                grpcStream.close();
            }
        }
    }

    /**
     * Which peer goes first in this operation: the order rotates (braid, raw, gRPC; raw, gRPC, braid; ...),
     * so that each peer follows each other equally often. A peer's segment shares the CPUs with the tail of
     * the one before it (its sender refilling the window or socket buffers the segment drained, its GC
     * garbage): with a fixed order, braid always followed gRPC, and paid for gRPC's refill.
     */
    @State(Scope.Thread)
    public static class Order {
        int next;
    }

    /** {@return bytes moved} One segment up over each peer, in turn (the order rotates, see {@link Order}). */
    @Benchmark
    public int upload(final UploadPeers p, final Times t, final Order o) throws IOException, InterruptedException {
        return inTurn(o, t, p.grpcStream != null, () -> p.stream.write(p.chunk.clear()),
                () -> p.raw.out.write(p.raw.buffer), () -> p.grpcStream.send(p.bytes));
    }

    /** {@return bytes moved} One segment down over each peer, in turn (the order rotates, see {@link Order}). */
    @Benchmark
    public int download(final DownloadPeers p, final Times t, final Order o) throws IOException, InterruptedException {
        return inTurn(o, t, p.grpcStream != null, () -> BraidFixture.readFully(p.stream, p.chunk.clear()),
                () -> readFully(p.raw), () -> p.grpcStream.take(p.bytes));
    }

    /** Moves one {@link #CHUNK} over one peer. */
    @FunctionalInterface
    private interface Chunk {
        void move() throws IOException, InterruptedException;
    }

    /**
     * One {@link #SEGMENT} over each peer (gRPC only if {@code grpc}), starting with the one {@link Order} says,
     * each timed into its counter. {@return bytes moved per peer}
     */
    private static int inTurn(final Order o, final Times t, final boolean grpc, final Chunk braid, final Chunk raw,
                              final Chunk grpcChunk) throws IOException, InterruptedException {
        final int peers = grpc ? 3 : 2;
        final int first = o.next++ % peers;
        for (int k = 0; k < peers; k++) {
            final int peer = (first + k) % peers;
            final Chunk c = peer == 0 ? braid : peer == 1 ? raw : grpcChunk;
            final long t0 = System.nanoTime();
            for (int n = 0; n < SEGMENT; n += CHUNK) {
                c.move();
            }
            final long spent = System.nanoTime() - t0;
            if (peer == 0) {
                t.braidNanos += spent;
            } else if (peer == 1) {
                t.rawNanos += spent;
            } else {
                t.grpcNanos += spent;
            }
        }
        return SEGMENT;
    }

    private static void readFully(final RawTlsStreamBenchmark.Pair raw) throws IOException {
        int n = 0;
        while (n < CHUNK) {
            final int k = raw.in.read(raw.buffer, n, CHUNK - n);
            if (k < 0) {
                throw new EOFException("server closed");
            }
            n += k;
        }
    }
}
