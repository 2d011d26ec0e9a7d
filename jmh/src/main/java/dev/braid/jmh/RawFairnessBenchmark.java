package dev.braid.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;

/**
 * What the machine itself does to a small round trip while bulk transfers run: the raw ping-pong of
 * {@link RawCallBenchmark} on its own TCP connection, idle ({@code idle} group) and while two uploads and two
 * downloads of {@link RawStreamBenchmark} run flat out, each on a connection of its own ({@code loaded}
 * group). Nothing is multiplexed, so nothing queues ahead of the ping in any buffer: whatever the loaded p99
 * loses against the idle one is CPU and scheduler contention, a floor that no transport on this machine can
 * beat. Read it beside {@code FairnessBenchmark} (braid: one connection for everything) and
 * {@code GrpcFairnessBenchmark}. Same group and method names, so the report pairs them.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RawFairnessBenchmark {

    /** The ping-pong connection, shared by the group's one caller thread. */
    @State(Scope.Group)
    public static class Ping {
        final byte[] request = GrpcPeer.pattern(RawCallBenchmark.PAYLOAD);
        final byte[] reply = new byte[RawCallBenchmark.PAYLOAD];
        Socket socket;
        InputStream in;
        OutputStream out;
        RawCallBenchmark.Echo echo;

        @Setup(Level.Trial)
        public void open() throws IOException {
            try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
                socket = new Socket();
                socket.setTcpNoDelay(true);
                socket.connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort()), 10_000);
                final Socket accepted = listener.accept();
                accepted.setTcpNoDelay(true);
                echo = new RawCallBenchmark.Echo(accepted);
            }
            in = socket.getInputStream();
            out = socket.getOutputStream();
        }

        @TearDown(Level.Trial)
        public void close() throws IOException, InterruptedException {
            echo.close(socket);
        }

        byte[] roundTrip() throws IOException {
            out.write(request);
            RawCallBenchmark.readFully(in, reply);
            return reply;
        }
    }

    @Benchmark
    @Group("idle")
    @GroupThreads(1)
    public byte[] idleCall(final Ping p) throws IOException {
        return p.roundTrip();
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(1)
    public byte[] loadedCall(final Ping p) throws IOException {
        return p.roundTrip();
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public int loadedUpload(final RawStreamBenchmark.Upload u) throws IOException {
        return RawStreamBenchmark.upload0(u);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public int loadedDownload(final RawStreamBenchmark.Download d) throws IOException {
        return RawStreamBenchmark.download0(d);
    }
}
