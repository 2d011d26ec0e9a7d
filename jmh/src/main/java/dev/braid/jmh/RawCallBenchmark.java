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
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;

/**
 * Baseline for {@code CallBenchmark}: 64-byte "calls" over a plain blocking {@link Socket} on 127.0.0.1, no framing,
 * no multiplexing. The server is one platform thread that reads exactly 64 bytes and writes them back; TCP_NODELAY
 * on both ends. This is the floor a call transport over one TCP connection is measured against.
 */
@State(Scope.Thread)
public class RawCallBenchmark {
    static final int PAYLOAD = 64;
    static final int IN_FLIGHT = 64;

    private final byte[] request = GrpcPeer.pattern(PAYLOAD);
    private final byte[] reply = new byte[PAYLOAD];
    private Socket socket;
    private InputStream in;
    private OutputStream out;
    private Echo echo;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort()), 10_000);
            final Socket accepted = listener.accept();
            accepted.setTcpNoDelay(true);
            echo = new Echo(accepted);
        }
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException, InterruptedException {
        echo.close(socket);
    }

    /** One call: write 64 bytes, read the 64-byte echo. */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public byte[] roundTrip() throws IOException {
        out.write(request);
        readFully(in, reply);
        return reply;
    }

    /**
     * 64 calls in flight, one op = one completed call. {@link Pipeline}'s setup writes 64 requests; each op then
     * writes one more request and reads one reply, so 63-64 calls are always outstanding. Done on the benchmark
     * thread alone: the cheapest way a blocking socket keeps 64 calls in flight (a separate writer thread behind a
     * semaphore would only add a hand-off to the same two syscalls per call).
     */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public byte[] pipelined(Pipeline pipeline) throws IOException {
        out.write(request);
        readFully(in, reply);
        return reply;
    }

    /** Puts {@link #IN_FLIGHT} requests on the wire before {@link #pipelined} is measured. */
    @State(Scope.Thread)
    public static class Pipeline {
        @Setup(Level.Trial)
        public void prime(RawCallBenchmark b) throws IOException {
            for (int i = 0; i < IN_FLIGHT; i++) {
                b.out.write(b.request);
            }
        }
    }

    static void readFully(InputStream in, byte[] dst) throws IOException {
        if (in.readNBytes(dst, 0, dst.length) != dst.length) {
            throw new EOFException("peer closed");
        }
    }

    /** The echo server: one platform thread on the accepted socket, 64 bytes in, the same 64 bytes out. */
    static final class Echo {
        private final Socket socket;
        private final Thread thread;
        private volatile Throwable failure;
        private volatile boolean closing;

        Echo(Socket socket) {
            this.socket = socket;
            this.thread = Thread.ofPlatform().name("raw-echo").daemon().start(this::run);
        }

        private void run() {
            final byte[] buf = new byte[PAYLOAD];
            try (Socket s = socket) {
                final InputStream in = s.getInputStream();
                final OutputStream out = s.getOutputStream();
                while (in.readNBytes(buf, 0, PAYLOAD) == PAYLOAD) {
                    out.write(buf);
                }
            } catch (IOException e) {
                if (!closing) {
                    failure = e;
                }
            }
        }

        /** Closes the client end; the server sees EOF (or a reset: unread replies) and exits. */
        void close(Socket client) throws IOException, InterruptedException {
            closing = true;
            client.close();
            if (!thread.join(java.time.Duration.ofSeconds(GrpcPeer.TIMEOUT_SECONDS))) {
                socket.close();
                throw new IllegalStateException("raw echo thread did not exit");
            }
            if (failure != null) {
                throw new IOException("raw echo server failed", failure);
            }
        }
    }
}
