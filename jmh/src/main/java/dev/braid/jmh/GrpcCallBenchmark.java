package dev.braid.jmh;

import io.grpc.CallOptions;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
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

import java.io.IOException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * gRPC-java peer of {@code CallBenchmark}: a unary method echoing 64 bytes, over one channel (one HTTP/2
 * connection) to a server in the same JVM on 127.0.0.1. See {@link GrpcPeer} for the configuration.
 */
@State(Scope.Thread)
@Fork(jvmArgsPrepend = GrpcPeer.NATIVE_ACCESS)
public class GrpcCallBenchmark {
    static final int IN_FLIGHT = 64;

    private final byte[] request = GrpcPeer.pattern(GrpcPeer.CALL_BYTES);
    private final Semaphore permits = new Semaphore(IN_FLIGHT);
    private volatile Throwable failure;
    private GrpcPeer peer;

    /** Shared by every pipelined call: releases the call's permit, keeps the first failure. */
    private final StreamObserver<byte[]> completion = new StreamObserver<>() {
        @Override
        public void onNext(byte[] reply) {
        }

        @Override
        public void onError(Throwable t) {
            if (failure == null) {
                failure = t;
            }
            permits.release();
        }

        @Override
        public void onCompleted() {
            permits.release();
        }
    };

    /** Whether the peer runs TLS ({@link GrpcTlsCallBenchmark}). */
    boolean tls() {
        return false;
    }

    @Setup(Level.Trial)
    public void setup() throws IOException {
        peer = new GrpcPeer(tls());
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        try {
            if (!permits.tryAcquire(IN_FLIGHT, GrpcPeer.TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new IllegalStateException((IN_FLIGHT - permits.availablePermits())
                        + " pipelined calls still outstanding after " + GrpcPeer.TIMEOUT_SECONDS + " s");
            }
            permits.release(IN_FLIGHT);
        } finally {
            peer.close();
        }
        if (failure != null) {
            throw new IllegalStateException("a pipelined call failed", failure);
        }
    }

    /** One blocking unary call (blocking stub path: the reply is handled on this thread). */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public byte[] roundTrip() {
        return peer.echo(request);
    }

    /**
     * 64 unary calls in flight, one op = one completed call: each op waits for a permit (a call completing once 64
     * are outstanding) and starts the next call asynchronously (the async stub's path, {@code asyncUnaryCall}).
     */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void pipelined() throws InterruptedException {
        if (!permits.tryAcquire(GrpcPeer.TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no pipelined call completed in " + GrpcPeer.TIMEOUT_SECONDS + " s");
        }
        final Throwable f = failure;
        if (f != null) {
            permits.release();
            throw new IllegalStateException("a pipelined call failed", f);
        }
        ClientCalls.asyncUnaryCall(peer.channel.newCall(GrpcPeer.ECHO, CallOptions.DEFAULT), request, completion);
    }
}
