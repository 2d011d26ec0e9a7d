package dev.braid.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * gRPC-java peer of {@code FairnessBenchmark}: small unary calls on one channel (one HTTP/2 connection), alone
 * ({@code idle}) and beside two uploading and two downloading 256 KiB-message streams on the same channel
 * ({@code loaded}). Read: p99 of {@code loaded:loadedCall} against {@code idle:idleCall}; stream throughput =
 * 256 KiB / (average time per {@code loadedUpload} or {@code loadedDownload} op) x 2 threads each.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(jvmArgsPrepend = GrpcPeer.NATIVE_ACCESS)
public class GrpcFairnessBenchmark {

    /** The one channel (and server) a group shares. */
    @State(Scope.Group)
    public static class Connection {
        final byte[] request = GrpcPeer.pattern(GrpcPeer.CALL_BYTES);
        GrpcPeer peer;

        @Setup(Level.Trial)
        public void setup(final BenchmarkParams params) throws IOException {
            peer = new GrpcPeer(BraidFixture.tls(params)); // GrpcTlsFairnessBenchmark: TLS
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            peer.close();
        }
    }

    /** This thread's own client-streaming call on the group's channel. */
    @State(Scope.Thread)
    public static class UploadStream {
        final byte[] chunk = GrpcPeer.pattern(GrpcPeer.CHUNK_BYTES);
        GrpcPeer.Upload stream;

        @Setup(Level.Trial)
        public void setup(Connection c) throws InterruptedException {
            stream = c.peer.upload();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            stream.close();
        }
    }

    /** This thread's own server-streaming call on the group's channel. */
    @State(Scope.Thread)
    public static class DownloadStream {
        final byte[] chunk = new byte[GrpcPeer.CHUNK_BYTES];
        GrpcPeer.Download stream;

        @Setup(Level.Trial)
        public void setup(Connection c) {
            stream = c.peer.download();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            stream.close();
        }
    }

    @Benchmark
    @Group("idle")
    @GroupThreads(1)
    public byte[] idleCall(Connection c) {
        return c.peer.echo(c.request);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(1)
    public byte[] loadedCall(Connection c) {
        return c.peer.echo(c.request);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public void loadedUpload(UploadStream s) throws InterruptedException {
        s.stream.send(s.chunk);
    }

    @Benchmark
    @Group("loaded")
    @GroupThreads(2)
    public int loadedDownload(DownloadStream s) throws InterruptedException, IOException {
        return s.stream.take(s.chunk);
    }
}
