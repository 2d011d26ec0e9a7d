package dev.braid.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.StreamListener;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.Extension;
import dev.braid.spi.IoThreads;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.braid.internal.wire.FrameHeader.STATUS_CONTINUE;
import static dev.braid.internal.wire.FrameHeader.STATUS_ERROR;
import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_CALL;
import static dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE;
import static dev.braid.internal.wire.FrameHeader.TYPE_REPLY;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM_HOLE;

/**
 * Jazzer target: braid's extension messages (HELLO and its reply, CREDIT, RELEASE, DRAIN, other procedures and
 * versions of the extension program) mixed with the calls, streams, holes and keepalive messages they act
 * on, fed to a real connection engine through its inbound path ({@link InMemoryBackend}: the engine's
 * {@code ConnectionHandler} calls, no socket). Each input is one connection, a server's (braid serving an
 * echo call and a stream that both reads and writes, so credit matters) or a client's (which sent HELLO and
 * a few calls), then closed.
 *
 * <p>Oracles (a violation is a finding): no exception escapes the engine (a protocol violation must close
 * the connection with a reason, never throw into the backend); after the close no pooled buffer is
 * outstanding. Everything runs on Jazzer's thread: handlers are {@link HandlerMode#NON_BLOCKING} and the
 * handler executor runs tasks in place, so a run is deterministic.
 */
public final class ExtensionMessagesFuzzer {
    static final Procedure ECHO = Procedure.of(0x1234, 1, 1);
    static final Procedure STREAM = Procedure.of(0x1234, 1, 2);
    private static final InetSocketAddress ADDRESS = new InetSocketAddress("127.0.0.1", 1);

    private static final Braid BRAID;
    private static final InMemoryBackend BACKEND;
    private static final BufferPool POOL;

    static {
        BRAID = Braid.create(new BraidConfig().backend(InMemoryBackend.class.getName())
                .keepaliveInterval(Duration.ZERO).handlerExecutor(new InPlaceExecutor())
                .callbackExecutor(BraidConfig.DIRECT_CALLBACKS) // deterministic: no hand-off to other threads
                .maxMessageSize(1 << 16).initialStreamWindow(1 << 16).maxConcurrentStreams(4)
                .maxOutstandingCalls(8).readBufferSize(8192)
                // one connection per input: a second attempt (after a close before HELLO's answer) would open a
                // pipe on the timer's thread that no input drives (it left a buffer outstanding 1 in ~300 runs)
                .connectAttempts(1));
        BACKEND = InMemoryBackend.last();
        POOL = BRAID.bufferPool();
        final BraidServer server = BRAID.server()
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .stream(STREAM, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.setListener(new Pump());
                }, HandlerMode.NON_BLOCKING)
                .bind(ADDRESS);
        assert server != null;
        // Jazzer's thread plays every connection's I/O thread: a blocking wait the engine made there would
        // throw BlockingOperationException, a finding
        IoThreads.markCurrent("in-memory");
    }

    private ExtensionMessagesFuzzer() {
    }

    /** A stream's server side: reads whatever comes, writes up to 256 KiB in 16 KiB pieces as credit allows. */
    private static final class Pump implements StreamListener {
        private final ByteBuffer in = ByteBuffer.allocate(4096);
        private final ByteBuffer out = ByteBuffer.allocate(16 * 1024);
        private long left = 256 * 1024;

        /**
         * Reads at most 64 KiB per call: holes come out of tryRead as zeros, and a peer's hole may announce
         * 2^63 - 1 of them in one 40-byte frame (docs/fuzzing.md, "What the runs found").
         */
        @Override
        public void onReadable(final BraidStream s) {
            int n;
            int budget = 64 * 1024;
            do {
                in.clear();
                n = s.tryRead(in);
                budget -= Math.max(n, 0);
            } while (n > 0 && budget > 0);
        }

        @Override
        public void onWritable(final BraidStream s) {
            while (left > 0) {
                out.clear().limit((int) Math.min(out.capacity(), left));
                final int n = s.tryWrite(out);
                if (n == BraidStream.WOULD_BLOCK) {
                    return;
                }
                left -= n;
            }
        }

        @Override
        public void onHangup(final BraidStream s) {
            onReadable(s);
        }
    }

    /** Runs every task on the calling thread (Jazzer's), so the engine's dispatches stay on it. */
    private static final class InPlaceExecutor extends AbstractExecutorService {
        @Override
        public void execute(final Runnable command) {
            command.run();
        }

        @Override
        public void shutdown() {
        }

        @Override
        public List<Runnable> shutdownNow() {
            return List.of();
        }

        @Override
        public boolean isShutdown() {
            return false;
        }

        @Override
        public boolean isTerminated() {
            return false;
        }

        @Override
        public boolean awaitTermination(final long timeout, final TimeUnit unit) {
            return true;
        }
    }

    public static void fuzzerTestOneInput(final FuzzedDataProvider data) {
        final long before = POOL.outstanding();
        final boolean asClient = data.consumeBoolean();
        final List<CompletableFuture<?>> pending = new ArrayList<>();
        InMemoryBackend.Pipe pipe = null;
        try {
            final List<Integer> serials = new ArrayList<>();
            if (asClient) {
                final CompletableFuture<Connection> connecting = BRAID.connectAsync(ADDRESS);
                pending.add(connecting);
                pipe = BACKEND.takeConnected();
                pipe.pump();
                feed(pipe, helloReply(data), data);
                if (connecting.isDone() && !connecting.isCompletedExceptionally()) {
                    final Connection c = connecting.join();
                    for (int i = data.consumeInt(0, 3); i > 0; i--) {
                        final CompletableFuture<Reply> r = c.callAsync(ECHO, data.consumeBytes(16));
                        r.thenAccept(Reply::close);
                        pending.add(r);
                    }
                    pipe.pump();
                }
                for (int s = 1; s <= 4; s++) {
                    serials.add(s);
                }
            } else {
                pipe = BACKEND.accept();
                if (data.consumeBoolean()) {
                    feed(pipe, InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO,
                            TYPE_CALL, data.consumeInt(), STATUS_OK, hello(data)), data);
                }
            }
            for (int step = 0; step < 32 && data.remainingBytes() > 0 && !pipe.isClosed(); step++) {
                feed(pipe, nextFrame(data, asClient, serials), data);
            }
        } finally {
            if (pipe != null) {
                pipe.finish();
            }
            for (CompletableFuture<?> f : pending) {
                f.cancel(false);
            }
        }
        if (POOL.outstanding() != before) {
            throw new AssertionError((POOL.outstanding() - before) + " pooled buffers outstanding after the "
                    + (asClient ? "client" : "server") + " connection closed");
        }
    }

    private static void feed(final InMemoryBackend.Pipe pipe, final byte[] frame, final FuzzedDataProvider data) {
        pipe.feed(frame, data.consumeInt(1, 2048));
        pipe.pump();
    }

    /** A braid_hello: well formed with fuzzed values, or fuzzed bytes of any length. */
    private static byte[] hello(final FuzzedDataProvider data) {
        if (data.consumeBoolean()) {
            return data.consumeBytes(32);
        }
        final ByteBuffer b = ByteBuffer.allocate(Extension.HELLO_LENGTH);
        new Extension.Hello(data.consumeInt(0, 3), data.consumeInt(0, 7), data.consumeInt(),
                data.consumeInt(-1, 16), data.consumeInt(-1, 8), data.consumeInt()).encode(b);
        return b.array();
    }

    /** The server's answer to the client's HELLO (serial 1: the client's first call). */
    private static byte[] helloReply(final FuzzedDataProvider data) {
        final int serial = data.consumeBoolean() ? 1 : data.consumeInt();
        return switch (data.consumeInt(0, 2)) {
            case 0 -> InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_REPLY,
                    serial, STATUS_OK, hello(data));
            case 1 -> InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_REPLY,
                    serial, STATUS_ERROR, data.consumeBytes(64)); // a refusal, its remote_error fuzzed
            default -> data.consumeBytes(64);
        };
    }

    private static int serial(final FuzzedDataProvider data, final List<Integer> serials) {
        return serials.isEmpty() || data.consumeBoolean() ? data.consumeInt(0, 8) : data.pickValue(serials);
    }

    private static byte[] nextFrame(final FuzzedDataProvider data, final boolean asClient, final List<Integer> serials) {
        switch (data.consumeInt(0, 10)) {
            case 0:
                return InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO,
                        asClient ? TYPE_REPLY : TYPE_CALL, data.consumeInt(0, 8), STATUS_OK, hello(data));
            case 1: { // CREDIT {serial; bytes}, mostly well formed
                final byte[] p = data.consumeBoolean() ? ByteBuffer.allocate(Extension.CREDIT_LENGTH)
                        .putInt(serial(data, serials)).putInt(data.consumeInt()).array() : data.consumeBytes(16);
                return InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_CREDIT,
                        TYPE_MESSAGE, 0, STATUS_OK, p);
            }
            case 2: { // RELEASE {serial}
                final byte[] p = data.consumeBoolean() ? ByteBuffer.allocate(Extension.RELEASE_LENGTH)
                        .putInt(serial(data, serials)).array() : data.consumeBytes(8);
                return InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_RELEASE,
                        TYPE_MESSAGE, 0, STATUS_OK, p);
            }
            case 3:
                return InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_DRAIN,
                        TYPE_MESSAGE, 0, STATUS_OK, data.consumeBytes(16));
            case 4: // the extension program with any version, procedure, type and status
                return InMemoryBackend.frame(Extension.PROGRAM, data.consumeInt(0, 3), data.consumeInt(0, 9),
                        data.pickValue(new int[]{TYPE_CALL, TYPE_REPLY, TYPE_MESSAGE, TYPE_STREAM}),
                        data.consumeInt(0, 8), data.consumeInt(0, 2), data.consumeBytes(32));
            case 5: { // open a stream (a server serves it; a client gets a CALL, a protocol violation)
                final int s = data.consumeInt(0, 8);
                serials.add(s);
                return InMemoryBackend.frame(STREAM.program(), STREAM.version(), STREAM.procedure(), TYPE_CALL, s,
                        STATUS_OK, new byte[0]);
            }
            case 6: // stream data, end (OK) or abort (ERROR, payload maybe a remote_error)
                return InMemoryBackend.frame(STREAM.program(), STREAM.version(), STREAM.procedure(), TYPE_STREAM,
                        serial(data, serials), data.pickValue(new int[]{STATUS_CONTINUE, STATUS_OK, STATUS_ERROR}),
                        data.consumeBytes(data.consumeInt(0, 4096)));
            case 7: // a hole {hyper length; unsigned flags}
                return InMemoryBackend.frame(STREAM.program(), STREAM.version(), STREAM.procedure(),
                        TYPE_STREAM_HOLE, serial(data, serials), STATUS_CONTINUE,
                        ByteBuffer.allocate(12).putLong(data.consumeLong()).putInt(data.consumeInt()).array());
            case 8: // a call (server), a reply to a call or not (client)
                return InMemoryBackend.frame(ECHO.program(), ECHO.version(), ECHO.procedure(),
                        asClient ? TYPE_REPLY : TYPE_CALL, data.consumeInt(0, 8),
                        asClient ? data.consumeInt(0, 1) : STATUS_OK, data.consumeBytes(64));
            case 9: // keepalive PING, PONG or another procedure
                return InMemoryBackend.frame(Extension.KEEPALIVE_PROGRAM, Extension.KEEPALIVE_VERSION,
                        data.consumeInt(0, 3), TYPE_MESSAGE, 0, STATUS_OK, new byte[0]);
            default:
                return data.consumeBytes(64);
        }
    }
}
