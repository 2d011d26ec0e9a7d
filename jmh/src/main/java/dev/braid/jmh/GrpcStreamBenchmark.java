package dev.braid.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
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
 * gRPC-java peer of {@code StreamBenchmark}: one op = one 256 KiB message, on one channel (one connection) per
 * benchmark thread. Upload is a client-streaming call sent under gRPC's flow control (wait while
 * {@code isReady()} is false); download is a server-streaming call whose server sends while {@code isReady()},
 * read with manual flow control ({@code request(1)} per message taken, {@link GrpcPeer#DOWNLOAD_PREFETCH} ahead).
 */
@Fork(jvmArgsPrepend = GrpcPeer.NATIVE_ACCESS)
public class GrpcStreamBenchmark {

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void upload(Upload s) throws InterruptedException {
        s.stream.send(s.chunk);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int download(Download s) throws InterruptedException, IOException {
        return s.stream.take(s.chunk);
    }

    @State(Scope.Thread)
    public static class Upload {
        final byte[] chunk = GrpcPeer.pattern(GrpcPeer.CHUNK_BYTES);
        GrpcPeer peer;
        GrpcPeer.Upload stream;

        @Setup(Level.Trial)
        public void setup(final BenchmarkParams params) throws IOException, InterruptedException {
            peer = new GrpcPeer(BraidFixture.tls(params));
            stream = peer.upload();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            try {
                stream.close();
            } finally {
                peer.close();
            }
        }
    }

    @State(Scope.Thread)
    public static class Download {
        final byte[] chunk = new byte[GrpcPeer.CHUNK_BYTES];
        GrpcPeer peer;
        GrpcPeer.Download stream;

        @Setup(Level.Trial)
        public void setup(final BenchmarkParams params) throws IOException {
            peer = new GrpcPeer(BraidFixture.tls(params));
            stream = peer.download();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            try {
                stream.close();
            } finally {
                peer.close();
            }
        }
    }
}
