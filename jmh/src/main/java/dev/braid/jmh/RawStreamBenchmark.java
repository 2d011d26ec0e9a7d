package dev.braid.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Baseline for {@code StreamBenchmark}: 256 KiB per op over one plain blocking TCP connection on 127.0.0.1.
 * Blocking {@link SocketChannel}s with a reused direct {@link ByteBuffer} on both ends (measured faster than
 * {@code Socket} streams over heap arrays, which copy through a temporary direct buffer on every call; see
 * docs/peers.md). The peer is one platform thread per connection that discards (upload) or writes continuously
 * (download) until teardown, so an op never waits on anything but the socket.
 */
public class RawStreamBenchmark {
    static final int CHUNK = 256 * 1024;

    /** One op = the benchmark thread writes 256 KiB; the server thread reads and discards. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int upload(Upload s) throws IOException {
        return upload0(s);
    }

    /** The upload op, shared with {@link RawFairnessBenchmark}. */
    static int upload0(final Upload s) throws IOException {
        final ByteBuffer b = s.buffer.clear();
        while (b.hasRemaining()) {
            s.client.write(b);
        }
        return CHUNK;
    }

    /** One op = the benchmark thread reads 256 KiB that the server thread writes continuously. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int download(Download s) throws IOException {
        return download0(s);
    }

    /** The download op, shared with {@link RawFairnessBenchmark}. */
    static int download0(final Download s) throws IOException {
        final ByteBuffer b = s.buffer.clear();
        while (b.hasRemaining()) {
            if (s.client.read(b) < 0) {
                throw new EOFException("server closed");
            }
        }
        return b.get(CHUNK - 1);
    }

    @State(Scope.Thread)
    public static class Upload extends Connection {
        @Override
        void serve(SocketChannel ch, ByteBuffer b) throws IOException {
            while (ch.read(b.clear()) >= 0) {
                // discard
            }
        }
    }

    @State(Scope.Thread)
    public static class Download extends Connection {
        @Override
        void serve(SocketChannel ch, ByteBuffer b) throws IOException {
            while (true) {
                b.clear();
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
        }
    }

    /** A connected pair: {@link #client} for the benchmark thread, the accepted end served by a platform thread. */
    abstract static class Connection {
        final ByteBuffer buffer = filled(ByteBuffer.allocateDirect(CHUNK));
        SocketChannel client;
        private SocketChannel accepted;
        private Thread server;
        private volatile Throwable failure;
        private volatile boolean closing;

        abstract void serve(SocketChannel ch, ByteBuffer b) throws IOException;

        @Setup(Level.Trial)
        public void open() throws IOException {
            try (ServerSocketChannel listener = ServerSocketChannel.open()) {
                listener.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 1);
                client = SocketChannel.open(listener.getLocalAddress());
                client.setOption(StandardSocketOptions.TCP_NODELAY, true);
                accepted = listener.accept();
                accepted.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            final ByteBuffer serverBuffer = filled(ByteBuffer.allocateDirect(CHUNK));
            server = Thread.ofPlatform().name("raw-stream-server").daemon().start(() -> {
                try (SocketChannel ch = accepted) {
                    serve(ch, serverBuffer);
                } catch (IOException e) {
                    if (!closing) {
                        failure = e;
                    }
                }
            });
        }

        @TearDown(Level.Trial)
        public void close() throws IOException, InterruptedException {
            closing = true;
            client.close(); // the server thread sees EOF, or fails its write, and exits
            if (!server.join(Duration.ofSeconds(GrpcPeer.TIMEOUT_SECONDS))) {
                accepted.close();
                throw new IllegalStateException("raw stream server thread did not exit");
            }
            if (failure != null) {
                throw new IOException("raw stream server failed", failure);
            }
        }

        private static ByteBuffer filled(ByteBuffer b) {
            b.put(GrpcPeer.pattern(CHUNK)).clear();
            return b;
        }
    }
}
